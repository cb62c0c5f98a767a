import type { Db } from '../db/index.ts';
import type { OutboxMailRow } from '../db/schema.ts';
import { OutboxRelay, storedParent } from '../outbox/relay.ts';
import type { Logger } from '../telemetry/logger.ts';
import { counter, gauge } from '../telemetry/metrics.ts';
import { withSpan } from '../telemetry/tracing.ts';
import { mailStore } from './outbox-store.ts';
import { type MailTransport, SEND_TIMEOUT_MS } from './transport.ts';

/** Sends the mail outbox through a transport, in the background, retrying with backoff (shared/outbox/relay.ts). */

const sent = counter('mail_sent_total', 'Mails the SMTP server (or the local inbox) took.', ['function']);
const attempts = counter(
  'mail_delivery_attempts_total',
  'Attempts to hand a mail to the SMTP server, by result (success or failure).',
  ['function', 'result'],
);
const pending = gauge(
  'mail_outbox_pending',
  'Mails written to the outbox and not sent yet (as of the last delivery pass).',
  ['function'],
);

export interface MailRelayOptions {
  transport: MailTransport;
  db: () => Db;
  log: Logger;
  functionName: string;
  retryBaseMs: number;
  retryMaxMs: number;
}

export function mailRelay(options: MailRelayOptions): OutboxRelay<OutboxMailRow> {
  const { transport, functionName } = options;
  return new OutboxRelay<OutboxMailRow>({
    kind: 'mail',
    store: mailStore,
    send: (mail, signal) =>
      withSpan(
        'send mail',
        { 'mail.transport': transport.description, 'mail.id': mail.id },
        async (span) => {
          const failure = await transport.send(mail, signal);
          if (failure) span.setStatus({ code: 2, message: failure.reason });
          return failure;
        },
        { kind: 'producer', parent: storedParent(mail) },
      ),
    sendTimeoutMs: SEND_TIMEOUT_MS,
    db: options.db,
    log: options.log,
    retryBaseMs: options.retryBaseMs,
    retryMaxMs: options.retryMaxMs,
    observe: {
      attempt: (result) => attempts.inc({ function: functionName, result }),
      pending: (count) => pending.set({ function: functionName }, count),
      delivered: () => sent.inc({ function: functionName }),
    },
    // The id only: an address is personal data, and the logs keep it out.
    describe: (mail) => ({ mail_id: mail.id }),
  });
}
