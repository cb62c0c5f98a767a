import { type SelectQueryBuilder, sql } from 'kysely';
import { compiledOnce, type Database, type Db } from '../../shared/db/index.ts';
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

type PageValues = { ownerId: string; skip: number; limit: number };

/** The page of items (id breaks ties between equal timestamps so pages never overlap; it matches the index). */
const newestFirst = (scope: SelectQueryBuilder<Database, 'item', object>, { skip, limit }: PageValues) =>
  scope.selectAll().orderBy('created_at', 'desc').orderBy('id').offset(skip).limit(limit);

/**
 * A page and the count of every matching row in one statement: one round trip, one pooled connection and one
 * snapshot (two parallel statements took two connections, and could see different states of the table). The
 * page is joined to the count, so an empty page (past the end) still brings its count. Asked for on every list
 * request, with one of two shapes (one owner's items, or everyone's), so each is compiled once.
 */
function pageWithCount(everyone: boolean) {
  return compiledOnce(['ownerId', 'skip', 'limit'] as const, (db, values: PageValues) => {
    const scope = everyone
      ? db.selectFrom('item')
      : db.selectFrom('item').where('owner_id', '=', values.ownerId);
    return db
      .selectFrom(scope.select((eb) => eb.fn.countAll<string>().as('count')).as('total'))
      .leftJoinLateral(newestFirst(scope, values).as('page'), (join) => join.onTrue())
      .select('total.count')
      .selectAll('page')
      .orderBy('page.created_at', 'desc')
      .orderBy('page.id');
  });
}
const ownPage = pageWithCount(false);
const everyonesPage = pageWithCount(true);

export async function listItems(
  db: Db,
  ownerId: string | undefined,
  skip: number,
  limit: number,
): Promise<{ rows: ItemRow[]; count: number }> {
  if (limit === 0) {
    let scope = db.selectFrom('item');
    if (ownerId !== undefined) scope = scope.where('owner_id', '=', ownerId);
    const total = await scope.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow();
    return { rows: [], count: Number(total.count) };
  }
  const joined =
    ownerId === undefined
      ? await everyonesPage(db, { ownerId: '', skip, limit }) // no owner in this statement
      : await ownPage(db, { ownerId, skip, limit });
  const count = Number(joined[0]?.count ?? 0);
  // Every column but count is null in the one row of an empty page.
  const rows = joined.filter((row) => row.id !== null) as unknown as ItemRow[];
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
