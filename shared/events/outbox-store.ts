import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';
import { injectTraceHeaders } from '../telemetry/tracing.ts';

/** The outbox's SQL. `db` may be a transaction: that is the point of an outbox. */

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
 * Claims the head of the outbox for `leaseMs`: up to `limit` undelivered events in write order, as far as
 * they are due. The queue is delivered in order, so an event waiting for its retry holds back the ones
 * behind it (a sink that is down gets one attempt per backoff, not one per event). The lease moves the next
 * attempt past the lease, so no other instance takes these meanwhile, and if this one dies mid-send they
 * become due again when it runs out. SKIP LOCKED lets instances claim side by side without waiting for, or
 * double-taking, each other's rows.
 */
export async function claimDueEvents(db: Db, limit: number, leaseMs: number): Promise<OutboxEventRow[]> {
  const { rows } = await sql<OutboxEventRow>`
    update outbox_event set next_attempt_at = now() + ${leaseMs} * interval '1 millisecond'
    where seq in (
      select seq from (
        select seq, bool_and(next_attempt_at <= now()) over (order by seq) as due_so_far
        from (
          select seq, next_attempt_at from outbox_event
          where delivered_at is null
          order by seq
          limit ${limit}
          for update skip locked
        ) head
      ) run
      where due_so_far
    )
    returning *`.execute(db);
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

export async function markDelivered(db: Db, seqs: string[]): Promise<void> {
  await db
    .updateTable('outbox_event')
    .set({ delivered_at: sql`now()`, last_error: null })
    .where('seq', 'in', seqs)
    .where('delivered_at', 'is', null)
    .execute();
}

export async function markFailed(db: Db, seq: string, retryInMs: number, error: string): Promise<void> {
  await db
    .updateTable('outbox_event')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1),
      next_attempt_at: sql`now() + ${retryInMs} * interval '1 millisecond'`,
      last_error: error.slice(0, 1000),
    }))
    .where('seq', '=', seq)
    .execute();
}

/** Gives back claimed events that were not tried, due again in `retryInMs`. */
export async function releaseEvents(db: Db, seqs: string[], retryInMs: number): Promise<void> {
  if (seqs.length === 0) return;
  await db
    .updateTable('outbox_event')
    .set({ next_attempt_at: sql`now() + ${retryInMs} * interval '1 millisecond'` })
    .where('seq', 'in', seqs)
    .execute();
}

/** How many events wait, and in how many milliseconds the head of the queue is due (undefined: none). */
export async function pendingEvents(db: Db): Promise<{ count: number; nextDueInMs: number | undefined }> {
  const [count, head] = await Promise.all([
    db
      .selectFrom('outbox_event')
      .select(sql<string>`count(*)`.as('count'))
      .where('delivered_at', 'is', null)
      .executeTakeFirstOrThrow(),
    db
      .selectFrom('outbox_event')
      .select(sql<number>`extract(epoch from (next_attempt_at - now())) * 1000`.as('due_in_ms'))
      .where('delivered_at', 'is', null)
      .orderBy('seq')
      .limit(1)
      .executeTakeFirst(),
  ]);
  return {
    count: Number(count.count),
    nextDueInMs: head === undefined ? undefined : Math.max(0, Number(head.due_in_ms)),
  };
}

/** Delivered events are kept a day (to answer "was it sent?"), then dropped so the table stays small. */
export async function purgeDeliveredEvents(db: Db, olderThanHours: number): Promise<void> {
  await db
    .deleteFrom('outbox_event')
    .where('delivered_at', '<', sql<Date>`now() - ${olderThanHours} * interval '1 hour'`)
    .execute();
}
