import { sql } from 'kysely';
import { type BatchOptions, deleteInBatches } from '../../shared/db/batched-delete.ts';
import { compiledOnce, type Db } from '../../shared/db/index.ts';
import { afterPosition, type PageWindow, type Positioned, positionOf } from '../../shared/db/keyset.ts';
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

export interface ItemFilters {
  /** A case-insensitive substring of the title. */
  q?: string | undefined;
  is_active?: boolean | undefined;
}

export type PositionedItemRow = ItemRow & Positioned;

/** Every value a list statement takes; the shapes that do not use one get a placeholder that is never read. */
type ListValues = {
  ownerId: string;
  pattern: string;
  active: boolean;
  afterAt: string;
  afterId: string;
  offset: number;
  take: number;
  counted: string;
  uncounted: string;
};

/** `q` as an ILIKE pattern: its own %, _ and \ match themselves. */
const containing = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The statement of one list shape: whose items (one owner's or everyone's), filtered or not, from the top or
 * after a cursor. A page and its count in one statement: one round trip, one pooled connection and one snapshot.
 * The page is joined to the count, so an empty page (past the end) still brings its count. Unless the title is
 * searched, the count is read from the counters the triggers keep (migration 0004), never counted; with `q` the
 * matches are counted, which costs what the result costs. Each shape is built and compiled once.
 */
function listStatement(shape: { everyone: boolean; search: boolean; active: boolean; after: boolean }) {
  return compiledOnce(
    ['ownerId', 'pattern', 'active', 'afterAt', 'afterId', 'offset', 'take', 'counted', 'uncounted'] as const,
    (db, values: ListValues) => {
      let scope = db.selectFrom('item');
      if (!shape.everyone) scope = scope.where('item.owner_id', '=', values.ownerId);
      if (shape.search) scope = scope.where('item.title', 'ilike', values.pattern);
      if (shape.active) scope = scope.where('item.is_active', '=', values.active);
      const total = shape.search
        ? scope.select((eb) => eb.fn.countAll<string>().as('count'))
        : db
            .selectFrom('row_count')
            .select(
              sql<string>`coalesce(sum(case when counter = ${values.counted} then n else -n end), 0)`.as(
                'count',
              ),
            )
            .where('counter', 'in', [values.counted, values.uncounted]);
      let page = scope.selectAll('item').select(positionOf('item').as('position_at'));
      if (shape.after) page = page.where(afterPosition('item', values.afterAt, values.afterId));
      page = page
        .orderBy('item.created_at', 'desc')
        .orderBy('item.id', 'desc')
        .offset(values.offset)
        .limit(values.take);
      return db
        .selectFrom(total.as('total'))
        .leftJoinLateral(page.as('page'), (join) => join.onTrue())
        .select('total.count')
        .selectAll('page')
        .orderBy('page.created_at', 'desc')
        .orderBy('page.id', 'desc');
    },
  );
}

const statements = new Map<string, ReturnType<typeof listStatement>>();

/**
 * The counters (migration 0004) whose sum is the count: every item or the owner's, all or only the inactive
 * ones; the active ones are all of them less the inactive.
 */
function counters(ownerId: string | undefined, active: boolean | undefined) {
  const name = (subset: string) => (ownerId === undefined ? subset : `${subset}:${ownerId}`);
  if (active === false) return { counted: name('item.inactive'), uncounted: '' };
  return { counted: name('item'), uncounted: active === true ? name('item.inactive') : '' };
}

export async function listItems(
  db: Db,
  ownerId: string | undefined,
  filters: ItemFilters,
  window: PageWindow,
): Promise<{ rows: PositionedItemRow[]; count: string }> {
  const shape = {
    everyone: ownerId === undefined,
    search: filters.q !== undefined,
    active: filters.is_active !== undefined,
    after: window.after !== undefined,
  };
  const key = JSON.stringify(shape);
  let statement = statements.get(key);
  if (!statement) {
    statement = listStatement(shape);
    statements.set(key, statement);
  }
  const joined = await statement(db, {
    ownerId: ownerId ?? '',
    pattern: containing(filters.q ?? ''),
    active: filters.is_active ?? true,
    afterAt: window.after?.at ?? '',
    afterId: window.after?.id ?? '',
    offset: window.offset,
    take: window.take,
    ...counters(ownerId, filters.is_active),
  });
  const count = joined[0]?.count ?? '0';
  // Every column but count is null in the one row of an empty page.
  const rows = joined.filter((row) => row.id !== null) as unknown as PositionedItemRow[];
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

/**
 * Deletes the keys past their `ttlHours`, in batches (shared/db/batched-delete.ts), and returns how many went; a
 * live key is never touched. Runs on items' housekeeping schedule (./housekeeping.ts).
 */
export function purgeExpiredIdempotencyKeys(
  db: Db,
  ttlHours: number,
  options?: BatchOptions,
): Promise<number> {
  // idempotency_key_created_idx finds them; SKIP LOCKED leaves a key being claimed, and another instance's batch,
  // alone (a key claimed again has a new created_at by the time it commits).
  const batch = (limit: number) => sql`delete from idempotency_key where (user_id, key) in (
      select user_id, key from idempotency_key
      where created_at < now() - ${ttlHours} * interval '1 hour'
      limit ${limit}
      for update skip locked
    )`;
  return deleteInBatches(db, batch, options);
}
