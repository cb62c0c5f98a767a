import type { RawBuilder } from 'kysely';
import type { Db } from './index.ts';

/** Rows one purge statement deletes at most: small enough that no batch holds its locks for long. */
export const PURGE_BATCH_SIZE = 1_000;

/**
 * Runs `batch(limit)`, a DELETE of at most `limit` rows, until one deletes fewer, and returns how many went. Each
 * batch commits on its own, so a purge after a long pause (millions of rows) is many short transactions, never
 * one huge one: pass the pool, not a transaction, which would hold every batch's locks to its end.
 */
export async function deleteInBatches(
  db: Db,
  batch: (limit: number) => RawBuilder<unknown>,
  batchSize = PURGE_BATCH_SIZE,
): Promise<number> {
  let total = 0;
  for (;;) {
    const { numAffectedRows } = await batch(batchSize).execute(db);
    const deleted = Number(numAffectedRows ?? 0n);
    total += deleted;
    if (deleted < batchSize) return total;
  }
}
