import { sql } from 'kysely';
import type { Db } from '../../shared/db/index.ts';
import type { ItemRow } from '../../shared/db/schema.ts';

/**
 * Every SQL statement of items. Functions take `db`, which may be a transaction. `ownerId` narrows a
 * statement to one owner's items (undefined: a superuser's view of all); a row of someone else's is then
 * simply not found, which is what keeps its existence from leaking.
 */

export interface ItemValues {
  title: string;
  description: string | null;
  owner_id: string;
}

export interface ItemFieldChanges {
  title?: string;
  description?: string | null;
  is_active?: boolean;
}

/**
 * A page and the count of every matching row in one statement: one round trip, one pooled connection and one
 * snapshot (two parallel statements took two connections, and could see different states of the table). The
 * page is joined to the count, so an empty page (past the end) still brings its count.
 */
export async function listItems(
  db: Db,
  ownerId: string | undefined,
  skip: number,
  limit: number,
): Promise<{ rows: ItemRow[]; count: number }> {
  let scope = db.selectFrom('item');
  if (ownerId !== undefined) scope = scope.where('owner_id', '=', ownerId);
  const total = scope.select((eb) => eb.fn.countAll<string>().as('count'));
  if (limit === 0) return { rows: [], count: Number((await total.executeTakeFirstOrThrow()).count) };
  // id breaks ties between equal timestamps so pages never overlap; its direction matches the index.
  const page = scope.selectAll().orderBy('created_at', 'desc').orderBy('id').offset(skip).limit(limit);
  const joined = await db
    .selectFrom(total.as('total'))
    .leftJoinLateral(page.as('page'), (join) => join.onTrue())
    .select('total.count')
    .selectAll('page')
    .orderBy('page.created_at', 'desc')
    .orderBy('page.id')
    .execute();
  const count = Number(joined[0]?.count ?? 0);
  const rows = joined.flatMap(({ count: _, ...row }) => (row.id === null ? [] : [row as ItemRow]));
  return { rows, count };
}

export async function findItem(db: Db, id: string): Promise<ItemRow | undefined> {
  return db.selectFrom('item').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertItem(db: Db, values: ItemValues): Promise<ItemRow> {
  return db.insertInto('item').values(values).returningAll().executeTakeFirstOrThrow();
}

export async function updateItem(
  db: Db,
  id: string,
  ownerId: string | undefined,
  changes: ItemFieldChanges,
): Promise<ItemRow | undefined> {
  let query = db
    .updateTable('item')
    .set({ ...changes, updated_at: sql`now()` })
    .where('id', '=', id);
  if (ownerId !== undefined) query = query.where('owner_id', '=', ownerId);
  return query.returningAll().executeTakeFirst();
}

export async function deleteItem(
  db: Db,
  id: string,
  ownerId: string | undefined,
): Promise<ItemRow | undefined> {
  let query = db.deleteFrom('item').where('id', '=', id);
  if (ownerId !== undefined) query = query.where('owner_id', '=', ownerId);
  return query.returningAll().executeTakeFirst();
}

/**
 * Takes an Idempotency-Key for this transaction: true when the key is now ours (new, or its old use has
 * expired), false when a live use exists. A concurrent request with the same key waits here on the primary
 * key until the first transaction ends, then sees its committed row: two racing requests never both win.
 */
export async function claimIdempotencyKey(
  db: Db,
  userId: string,
  key: string,
  requestHash: string,
  ttlHours: number,
): Promise<boolean> {
  const claimed = await db
    .insertInto('idempotency_key')
    .values({ user_id: userId, key, request_hash: requestHash })
    .onConflict((oc) =>
      oc
        .columns(['user_id', 'key'])
        .doUpdateSet({
          request_hash: requestHash,
          response_status: null,
          response_body: null,
          created_at: sql`now()`,
        })
        .where('idempotency_key.created_at', '<', sql<Date>`now() - ${ttlHours} * interval '1 hour'`),
    )
    .returning('user_id')
    .executeTakeFirst();
  return claimed !== undefined;
}

export async function findIdempotencyKey(db: Db, userId: string, key: string) {
  return db
    .selectFrom('idempotency_key')
    .select(['request_hash', 'response_status', 'response_body'])
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .executeTakeFirst();
}

export async function saveIdempotentResponse(
  db: Db,
  userId: string,
  key: string,
  status: number,
  body: unknown,
): Promise<void> {
  await db
    .updateTable('idempotency_key')
    .set({ response_status: status, response_body: JSON.stringify(body) })
    .where('user_id', '=', userId)
    .where('key', '=', key)
    .execute();
}

export async function deleteExpiredIdempotencyKeys(db: Db, ttlHours: number): Promise<void> {
  await db
    .deleteFrom('idempotency_key')
    .where('created_at', '<', sql<Date>`now() - ${ttlHours} * interval '1 hour'`)
    .execute();
}
