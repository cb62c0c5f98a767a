import { type RawBuilder, sql } from 'kysely';
import { type BatchOptions, deleteInBatches } from '../db/batched-delete.ts';
import type { Db } from '../db/index.ts';

/**
 * The SQL of every transactional outbox (outbox_event, outbox_mail): the tables differ in what a row carries
 * and share the columns a relay claims, retries and marks rows by. `db` may be a transaction.
 */

/** What the relay reads of any outbox row. */
export interface OutboxRow {
  /** bigint: pg returns it as a string. */
  seq: string;
  attempts: number;
  /** The trace context of the request that wrote the row (null when tracing was off). */
  traceparent: string | null;
  tracestate: string | null;
}

export type OutboxTableName = 'outbox_event' | 'outbox_mail';

export interface OutboxStoreOptions {
  /**
   * Delivered in write order: a row waiting for its retry holds back the ones behind it (events). Otherwise
   * any due row may go (mail: one rejected recipient must not hold up everyone else's).
   */
  ordered: boolean;
  /** Columns set to null once a row is delivered (a mail's body, which holds its link). */
  clearOnDelivery?: string[];
}

export interface OutboxStore<R extends OutboxRow> {
  /**
   * Claims up to `limit` due rows for `leaseMs`: the lease moves their next attempt past it, so no other
   * instance takes them meanwhile, and if this one dies mid-send they become due again when it runs out.
   * SKIP LOCKED lets instances claim side by side without waiting for, or double-taking, each other's rows.
   */
  claimDue(db: Db, limit: number, leaseMs: number): Promise<R[]>;
  /** Rows already marked stay as they were (a mark repeated after a failover). */
  markDelivered(db: Db, seqs: string[]): Promise<void>;
  markFailed(db: Db, seq: string, retryInMs: number, error: string): Promise<void>;
  /** Gives back claimed rows that were not tried, due again in `retryInMs`. */
  release(db: Db, seqs: string[], retryInMs: number): Promise<void>;
  /** How many rows wait, and in how many milliseconds the next one is due (undefined: none). */
  pending(db: Db): Promise<{ count: number; nextDueInMs: number | undefined }>;
  /**
   * Delivered rows are kept a while (to answer "was it sent?"), then dropped so the table stays small, in
   * batches (shared/db/batched-delete.ts), on the housekeeping schedule. A row not yet delivered is never
   * touched. Returns how many went.
   */
  purgeDelivered(db: Db, olderThanHours: number, options?: BatchOptions): Promise<number>;
}

const millis = (ms: number) => sql`${ms} * interval '1 millisecond'`;

export function outboxStore<R extends OutboxRow>(
  name: OutboxTableName,
  { ordered, clearOnDelivery = [] }: OutboxStoreOptions,
): OutboxStore<R> {
  // The fragments are made per query: a store is made when its module loads, and building SQL loads Kysely,
  // which a cold start that never queries does not need.
  const table = () => sql.table(name);
  const cleared = (): RawBuilder<unknown>[] =>
    clearOnDelivery.map((column) => sql`, ${sql.ref(column)} = null`);

  const claimOrdered = (db: Db, limit: number, leaseMs: number) =>
    sql<R>`
    update ${table()} set next_attempt_at = now() + ${millis(leaseMs)}
    where seq in (
      select seq from (
        select seq, bool_and(next_attempt_at <= now()) over (order by seq) as due_so_far
        from (
          select seq, next_attempt_at from ${table()}
          where delivered_at is null
          order by seq
          limit ${limit}
          for update skip locked
        ) head
      ) run
      where due_so_far
    )
    returning *`.execute(db);

  const claimAny = (db: Db, limit: number, leaseMs: number) =>
    sql<R>`
    update ${table()} set next_attempt_at = now() + ${millis(leaseMs)}
    where seq in (
      select seq from ${table()}
      where delivered_at is null and next_attempt_at <= now()
      order by next_attempt_at, seq
      limit ${limit}
      for update skip locked
    )
    returning *`.execute(db);

  return {
    async claimDue(db, limit, leaseMs) {
      const { rows } = await (ordered ? claimOrdered : claimAny)(db, limit, leaseMs);
      return rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    },
    async markDelivered(db, seqs) {
      if (seqs.length === 0) return;
      await sql`update ${table()} set delivered_at = now(), last_error = null${sql.join(cleared(), sql``)}
        where seq in (${sql.join(seqs)}) and delivered_at is null`.execute(db);
    },
    async markFailed(db, seq, retryInMs, error) {
      await sql`update ${table()}
        set attempts = attempts + 1, next_attempt_at = now() + ${millis(retryInMs)}, last_error = ${error.slice(0, 1000)}
        where seq = ${seq}`.execute(db);
    },
    async release(db, seqs, retryInMs) {
      if (seqs.length === 0) return;
      await sql`update ${table()} set next_attempt_at = now() + ${millis(retryInMs)}
        where seq in (${sql.join(seqs)})`.execute(db);
    },
    async pending(db) {
      // In order, the head of the queue says when there is work again; otherwise the earliest due row does.
      const nextDue = ordered
        ? sql`(select next_attempt_at from ${table()} where delivered_at is null order by seq limit 1)`
        : sql`min(next_attempt_at)`;
      const { rows } = await sql<{ count: string; due_in_ms: number | null }>`
        select count(*) as count, extract(epoch from (${nextDue} - now())) * 1000 as due_in_ms
        from ${table()} where delivered_at is null`.execute(db);
      const row = rows[0];
      return {
        count: Number(row?.count ?? 0),
        nextDueInMs: row?.due_in_ms == null ? undefined : Math.max(0, Number(row.due_in_ms)),
      };
    },
    purgeDelivered(db, olderThanHours, options) {
      // SKIP LOCKED: two instances purging at once share the work instead of waiting on each other's batch.
      const batch = (limit: number) => sql`delete from ${table()} where seq in (
          select seq from ${table()}
          where delivered_at < now() - ${olderThanHours} * interval '1 hour'
          limit ${limit}
          for update skip locked
        )`;
      return deleteInBatches(db, batch, options);
    },
  };
}
