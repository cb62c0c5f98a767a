import { sql } from 'kysely';
import type { Db } from '../../shared/db/index.ts';

/** The columns a login needs. `lower(email)` matches the unique index (emails are stored lower-cased). */
export function findLoginUser(db: Db, email: string) {
  return db
    .selectFrom('user')
    .select(['id', 'hashed_password', 'is_active'])
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
}

/** The account a password recovery is for, if any. */
export function findRecoveryUser(db: Db, email: string) {
  return db
    .selectFrom('user')
    .select(['id', 'email', 'is_active'])
    .where(sql<string>`lower(email)`, '=', email.toLowerCase())
    .executeTakeFirst();
}
