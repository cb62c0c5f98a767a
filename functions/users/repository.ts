import { sql } from 'kysely';
import type { CurrentUser } from '../../shared/auth/current-user.ts';
import type { Db } from '../../shared/db/index.ts';
import type { NewUserRow } from '../../shared/db/schema.ts';
import type { Pagination } from '../../shared/http/pagination.ts';

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

/** Newest first, with the total for the page envelope. */
export async function listUsers(db: Db, { skip, limit }: Pagination) {
  const [rows, total] = await Promise.all([
    db
      .selectFrom('user')
      .select(PUBLIC_COLUMNS)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(skip)
      .limit(limit)
      .execute(),
    db
      .selectFrom('user')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .executeTakeFirstOrThrow(),
  ]);
  return { rows, count: total.count };
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
