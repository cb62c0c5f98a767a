import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';

/** The outbox's SQL. `db` may be a transaction: that is the point of an outbox. */

export interface NewEvent {
  type: string;
  source: string;
  subject: string;
  data: unknown;
}

export async function insertEvent(db: Db, event: NewEvent): Promise<string> {
  const id = randomUUID();
  await db
    .insertInto('outbox_event')
    .values({ id, ...event, data: JSON.stringify(event.data) })
    .execute();
  return id;
}

/**
 * Claims up to `limit` due events for `leaseMs`: their next attempt moves past the lease, so no other
 * instance takes them meanwhile, and if this one dies mid-send they become due again when it runs out.
 * SKIP LOCKED lets instances claim side by side without waiting for, or double-taking, each other's rows.
 */
export async function claimDueEvents(db: Db, limit: number, leaseMs: number): Promise<OutboxEventRow[]> {
  const rows = await db
    .updateTable('outbox_event')
    .set({ next_attempt_at: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where(
      'seq',
      'in',
      db
        .selectFrom('outbox_event')
        .select('seq')
        .where('delivered_at', 'is', null)
        .where('next_attempt_at', '<=', sql<Date>`now()`)
        .orderBy('seq')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returningAll()
    .execute();
  return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
}

export async function markDelivered(db: Db, seq: string): Promise<void> {
  await db
    .updateTable('outbox_event')
    .set({ delivered_at: sql`now()`, last_error: null })
    .where('seq', '=', seq)
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

/** How many events wait, and in how many milliseconds the next one is due (undefined: none waits). */
export async function pendingEvents(db: Db): Promise<{ count: number; nextDueInMs: number | undefined }> {
  const row = await db
    .selectFrom('outbox_event')
    .select([
      sql<string>`count(*)`.as('count'),
      sql<number | null>`extract(epoch from (min(next_attempt_at) - now())) * 1000`.as('next_due_in_ms'),
    ])
    .where('delivered_at', 'is', null)
    .executeTakeFirstOrThrow();
  const next = row.next_due_in_ms === null ? undefined : Math.max(0, Number(row.next_due_in_ms));
  return { count: Number(row.count), nextDueInMs: next };
}

/** Delivered events are kept a day (to answer "was it sent?"), then dropped so the table stays small. */
export async function purgeDeliveredEvents(db: Db, olderThanHours: number): Promise<void> {
  await db
    .deleteFrom('outbox_event')
    .where('delivered_at', '<', sql<Date>`now() - ${olderThanHours} * interval '1 hour'`)
    .execute();
}
