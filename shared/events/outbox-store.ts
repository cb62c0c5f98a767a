import { randomUUID } from 'node:crypto';
import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';
import { outboxStore } from '../outbox/store.ts';
import { injectTraceHeaders } from '../telemetry/tracing.ts';

/** The events' outbox. `db` may be a transaction: that is the point of an outbox. */

export interface NewEvent {
  type: string;
  source: string;
  subject: string;
  data: unknown;
}

/** Written with the trace context active when it is recorded, so its delivery joins the request's trace. */
export async function insertEvent(db: Db, event: NewEvent): Promise<string> {
  const id = randomUUID();
  const trace = injectTraceHeaders<Record<string, string>>({});
  await db
    .insertInto('outbox_event')
    .values({
      id,
      ...event,
      data: JSON.stringify(event.data),
      traceparent: trace.traceparent ?? null,
      tracestate: trace.tracestate ?? null,
    })
    .execute();
  return id;
}

/**
 * Delivered in write order, so an event waiting for its retry holds back the ones behind it: a sink that is
 * down gets one attempt per backoff, not one per event, and receivers see changes in the order they happened.
 */
export const eventStore = outboxStore<OutboxEventRow>('outbox_event', { ordered: true });
