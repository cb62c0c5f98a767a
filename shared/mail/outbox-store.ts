import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { OutboxMailRow } from '../db/schema.ts';
import { outboxStore } from '../outbox/store.ts';
import { injectTraceHeaders } from '../telemetry/tracing.ts';

/** The mail outbox. `db` is the transaction that makes the change the mail tells of. */

export interface Mail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export async function insertMail(db: Db, mail: Mail): Promise<string> {
  const id = randomUUID();
  const trace = injectTraceHeaders<Record<string, string>>({});
  await db
    .insertInto('outbox_mail')
    .values({
      id,
      recipient: mail.to,
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      traceparent: trace.traceparent ?? null,
      tracestate: trace.tracestate ?? null,
    })
    .execute();
  return id;
}

/** Any due mail may go: one refused recipient must not hold up everyone else's mail. */
export const mailStore = outboxStore<OutboxMailRow>('outbox_mail', {
  ordered: false,
  clearOnDelivery: ['text', 'html'],
});
