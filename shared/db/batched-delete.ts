import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RawBuilder } from 'kysely';
import type { Db } from './index.ts';

/** Rows one purge statement deletes at most: small enough that no batch holds its locks for long. */
export const PURGE_BATCH_SIZE = 1_000;
/** Statements one purge runs in one pass at most; the rest waits for the next pass (shared/db/housekeeping.ts). */
export const PURGE_MAX_BATCHES = 100;

export interface BatchOptions {
  /** Rows per statement (tests make it small). */
  batchSize?: number;
  /** Statements at most, then it returns with rows possibly left. */
  maxBatches?: number;
  /** Stops between two batches (a shutdown). */
  signal?: AbortSignal;
}

/**
 * Runs `batch(limit)`, a DELETE of at most `limit` rows, until one deletes fewer (or `maxBatches` ran, or
 * `signal` aborted), and returns how many went. Each batch commits on its own, so a purge after a long pause
 * (millions of rows) is many short transactions, never one huge one: pass the pool, not a transaction, which
 * would hold every batch's locks to its end. Between two batches it lets the event loop turn, so requests that
 * arrived meanwhile get the connection first.
 */
export async function deleteInBatches(
  db: Db,
  batch: (limit: number) => RawBuilder<unknown>,
  { batchSize = PURGE_BATCH_SIZE, maxBatches = PURGE_MAX_BATCHES, signal }: BatchOptions = {},
): Promise<number> {
  let total = 0;
  for (let batches = 0; batches < maxBatches && !signal?.aborted; batches++) {
    if (batches > 0) await nextTurn();
    const { numAffectedRows } = await batch(batchSize).execute(db);
    const deleted = Number(numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < batchSize) break;
  }
  return total;
}
