import type { Db } from '../db/index.ts';
import type { OutboxMailRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import type { OutboxRelay } from '../outbox/relay.ts';
import { outboxWriter } from '../outbox/writer.ts';
import { insertMail, type Mail } from './outbox-store.ts';
import { mailRelay } from './relay.ts';
import { localInbox, type MailTransport, smtpTransport } from './transport.ts';

export type { Mail } from './outbox-store.ts';

/**
 * Mail through a transactional outbox, as the item events go: a mail is written in the transaction of the
 * change that causes it, so it exists exactly when that change committed, and is sent after the commit, in the
 * background, retried while the SMTP server refuses or is down. Without SMTP_HOST, development runs keep every
 * mail in a local inbox; other environments keep it queued in the outbox until an SMTP server is configured.
 */
export interface Mailer {
  /** Writes the mail with the change: pass the transaction that makes it. */
  record(trx: Db, mail: Mail): Promise<void>;
  /** After commit: send soon, in the background. Returns at once. */
  afterCommit(): void;
  /** Sends what a previous instance left behind; cheap to call more than once. */
  start(): void;
  /** Where mail goes (the banner says it), undefined when it only waits in the outbox. */
  readonly destination: string | undefined;
  /** The relay, when mail is sent at all (tests wait on it). */
  readonly relay: OutboxRelay<OutboxMailRow> | undefined;
}

const mailers = new WeakMap<AppContext, Mailer>();

function transportOf(ctx: AppContext): MailTransport | undefined {
  if (ctx.config.mail.smtp) return smtpTransport(ctx.config);
  if (ctx.config.environment === 'development') return localInbox(ctx.config, ctx.log);
  return undefined;
}

function createMailer(ctx: AppContext): Mailer {
  const transport = transportOf(ctx);
  if (!transport) {
    let warned = false;
    return {
      destination: undefined,
      relay: undefined,
      async record(trx, mail) {
        await insertMail(trx, mail);
      },
      afterCommit() {
        if (warned) return;
        warned = true;
        ctx.log.warn('SMTP_HOST is not set: mail waits in the outbox until an SMTP server is configured');
      },
      start() {},
    };
  }
  const { retryBaseMs, retryMaxMs } = ctx.config.mail;
  const relay = mailRelay({
    transport,
    db: () => ctx.db,
    log: ctx.log,
    functionName: ctx.functionName,
    retryBaseMs,
    retryMaxMs,
  });
  return { destination: transport.description, ...outboxWriter(ctx, relay, insertMail) };
}

/** The mailer of this process (one per context, made on first use). */
export function mailer(ctx: AppContext): Mailer {
  let made = mailers.get(ctx);
  if (!made) {
    made = createMailer(ctx);
    mailers.set(ctx, made);
  }
  return made;
}

/** A link into the frontend: `${FRONTEND_HOST}/reset-password?token=…`. */
export function frontendLink(ctx: AppContext, path: string, token: string): string {
  return `${ctx.config.mail.frontendHost}${path}?token=${encodeURIComponent(token)}`;
}
