import { sql } from 'kysely';
import type { CurrentUser } from '../../shared/auth/current-user.ts';
import type { Db } from '../../shared/db/index.ts';
import { afterPosition, type PageWindow, type Positioned, positionOf } from '../../shared/db/keyset.ts';
import type { NewUserRow } from '../../shared/db/schema.ts';

/** Every users query. Emails are matched on lower(email), the expression the unique index is built on. */

const PUBLIC_COLUMNS = [
  'id',
  'email',
  'full_name',
  'is_active',
  'is_superuser',
  'email_verified',
  'created_at',
  'updated_at',
] as const;

const UNIQUE_VIOLATION = '23505';

export class DuplicateEmail extends Error {}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === UNIQUE_VIOLATION;
}

/** The new user, or undefined when the email is taken. */
export async function insertUser(db: Db, user: NewUserRow): Promise<CurrentUser | undefined> {
  return db
    .insertInto('user')
    .values(user)
    .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
    .returning(PUBLIC_COLUMNS)
    .executeTakeFirst();
}

export function findUser(db: Db, id: string): Promise<CurrentUser | undefined> {
  return db.selectFrom('user').select(PUBLIC_COLUMNS).where('id', '=', id).executeTakeFirst();
}

export async function findPasswordHash(db: Db, id: string): Promise<string | undefined> {
  const row = await db.selectFrom('user').select('hashed_password').where('id', '=', id).executeTakeFirst();
  return row?.hashed_password;
}

/**
 * A page of every user, newest first, and the total from the counter the triggers keep (migration 0004), in one
 * statement (one snapshot); the page is joined to the count, so an empty page still brings it.
 */
export async function listUsers(
  db: Db,
  window: PageWindow,
): Promise<{ rows: (CurrentUser & Positioned)[]; count: string }> {
  let page = db.selectFrom('user').select(PUBLIC_COLUMNS).select(positionOf('user').as('position_at'));
  if (window.after) page = page.where(afterPosition('user', window.after.at, window.after.id));
  const joined = await db
    .selectFrom(
      db
        .selectFrom('row_count')
        .select(sql<string>`coalesce(sum(n), 0)`.as('count'))
        .where('counter', '=', 'user')
        .as('total'),
    )
    .leftJoinLateral(
      page
        .orderBy('user.created_at', 'desc')
        .orderBy('user.id', 'desc')
        .offset(window.offset)
        .limit(window.take)
        .as('page'),
      (join) => join.onTrue(),
    )
    .select('total.count')
    .selectAll('page')
    .orderBy('page.created_at', 'desc')
    .orderBy('page.id', 'desc')
    .execute();
  const count = joined[0]?.count ?? '0';
  // Every column but count is null in the one row of an empty page.
  const rows = joined.filter((row) => row.id !== null) as unknown as (CurrentUser & Positioned)[];
  return { rows, count };
}

export interface UserChanges {
  email?: string;
  full_name?: string | null;
  hashed_password?: string;
  is_active?: boolean;
  is_superuser?: boolean;
  email_verified?: boolean;
}

/** The updated user, undefined when it does not exist; throws DuplicateEmail when the email is taken. */
export async function updateUser(db: Db, id: string, changes: UserChanges): Promise<CurrentUser | undefined> {
  const set = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
  if (Object.keys(set).length === 0) return findUser(db, id);
  try {
    return await db
      .updateTable('user')
      .set({ ...set, updated_at: sql<string>`now()` })
      .where('id', '=', id)
      .returning(PUBLIC_COLUMNS)
      .executeTakeFirst();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DuplicateEmail();
    throw error;
  }
}

/** True when a user was deleted; their items go with them (ON DELETE CASCADE). */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('user').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
