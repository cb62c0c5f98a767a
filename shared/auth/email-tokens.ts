import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { type BatchOptions, deleteInBatches } from '../db/batched-delete.ts';
import type { Db } from '../db/index.ts';

/**
 * The tokens of reset and verification links: 256 random bits, mailed once and stored only as their SHA-256,
 * single-use and expiring. A token also stops working once its account's address is no longer the one it was
 * mailed to, or the account is inactive.
 */

export type EmailTokenPurpose = 'reset' | 'verify';

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/** Stores a new token's hash in `db` (the transaction that also writes its mail) and returns the token. */
export async function issueEmailToken(
  db: Db,
  purpose: EmailTokenPurpose,
  user: { id: string; email: string },
  hours: number,
): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await db
    .insertInto('email_token')
    .values({
      token_hash: hashOf(token),
      purpose,
      user_id: user.id,
      email: user.email,
      expires_at: sql<string>`now() + ${hours} * interval '1 hour'`,
    })
    .execute();
  return token;
}

/**
 * Spends a token and returns its user, or undefined when it is unknown, spent, expired, for another purpose,
 * mailed to an address its account no longer has, or its account is inactive. One statement, so two requests
 * racing with the same token cannot both spend it.
 */
export async function spendEmailToken(
  db: Db,
  purpose: EmailTokenPurpose,
  token: string,
): Promise<{ userId: string } | undefined> {
  const { rows } = await sql<{ user_id: string }>`
    update email_token t set spent_at = now()
    from "user" u
    where t.token_hash = ${hashOf(token)} and t.purpose = ${purpose}
      and t.spent_at is null and t.expires_at > now()
      and u.id = t.user_id and lower(u.email) = lower(t.email) and u.is_active
    returning t.user_id`.execute(db);
  const row = rows[0];
  return row && { userId: row.user_id };
}

/** Spends every other open token of a user for `purpose` (after a reset, older reset links stop working). */
export async function spendAllEmailTokens(db: Db, userId: string, purpose: EmailTokenPurpose): Promise<void> {
  await db
    .updateTable('email_token')
    .set({ spent_at: sql<string>`now()` })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('spent_at', 'is', null)
    .execute();
}

/**
 * Drops the tokens that expired, or were spent, more than `olderThanHours` ago, in batches
 * (shared/db/batched-delete.ts), and returns how many went. A token still open (unspent and unexpired) is never
 * touched, and a dropped one is refused like a made-up one. Runs on the housekeeping schedule of the functions
 * that issue tokens (shared/mail/housekeeping.ts).
 */
export function purgeEmailTokens(db: Db, olderThanHours: number, options?: BatchOptions): Promise<number> {
  // Each side of the OR has its index (email_token_expires_idx, email_token_spent_idx); SKIP LOCKED leaves a
  // token being spent right now, and another instance's batch, alone.
  const batch = (limit: number) => sql`delete from email_token where token_hash in (
      select token_hash from email_token
      where expires_at < now() - ${olderThanHours} * interval '1 hour'
        or spent_at < now() - ${olderThanHours} * interval '1 hour'
      limit ${limit}
      for update skip locked
    )`;
  return deleteInBatches(db, batch, options);
}
