import { sql } from 'kysely';
import { type BatchOptions, deleteInBatches } from '../db/batched-delete.ts';
import type { Db } from '../db/index.ts';
import { afterPosition, type PageWindow, type Positioned, positionOf } from '../db/keyset.ts';
import { hashRefreshToken, newRefreshToken, successorOf } from './refresh-tokens.ts';

/**
 * Sessions in PostgreSQL: one row per login, and every refresh token it was given (as a hash). Every function
 * takes the database or a transaction first, so callers end sessions in the same transaction as the change
 * that causes it (a password change, a deactivation); after the commit they drop the cached entries with
 * `forgetSessions(ctx, ids)` (or `forgetUser(ctx, userId)`) from shared/auth/current-user.ts.
 */

/** Why a session ended, kept on the row for whoever investigates it. */
export type EndReason =
  | 'logout'
  | 'revoked'
  | 'replay'
  | 'ended_by_user'
  | 'password_change'
  | 'password_reset'
  | 'deactivated'
  | 'deleted';

/**
 * How long a spent refresh token still yields its successor: two tabs of one browser refreshing at once must
 * not end their own session. Past it, the spent token is a replay.
 */
export const REFRESH_GRACE_SECONDS = 10;

export interface IssuedSession {
  sessionId: string;
  userId: string;
  refreshToken: string;
  /** Seconds until the session ends, whatever the refreshes. */
  secondsLeft: number;
}

export type RotationResult =
  | ({ outcome: 'rotated' } & IssuedSession)
  /** No such token, or a session that has ended or expired, or whose user is inactive: nothing changes. */
  | { outcome: 'refused' }
  /** A spent token presented again: its session has just ended. */
  | { outcome: 'replayed'; sessionId: string; userId: string };

/** Made per query, not at load: building it loads Kysely, which a cold start that answers 401 never needs. */
const secondsLeft = () =>
  sql<number>`greatest(0, floor(extract(epoch from (session.expires_at - now()))))::int`;

export interface NewSession {
  userId: string;
  lifetimeDays: number;
  userAgent: string | undefined;
  clientAddress: string | undefined;
}

/** A new session and its first refresh token. */
export async function createSession(db: Db, input: NewSession): Promise<IssuedSession> {
  const refreshToken = newRefreshToken();
  return db.transaction().execute(async (trx) => {
    const session = await trx
      .insertInto('session')
      .values({
        user_id: input.userId,
        expires_at: sql<Date>`now() + ${input.lifetimeDays} * interval '1 day'`,
        user_agent: input.userAgent?.slice(0, 512) ?? null,
        client_address: input.clientAddress?.slice(0, 64) ?? null,
      })
      .returning(['id', secondsLeft().as('seconds_left')])
      .executeTakeFirstOrThrow();
    await trx
      .insertInto('refresh_token')
      .values({ token_hash: hashRefreshToken(refreshToken), session_id: session.id })
      .execute();
    return { sessionId: session.id, userId: input.userId, refreshToken, secondsLeft: session.seconds_left };
  });
}

/**
 * Spends a refresh token and gives its successor. Rotations of one session are serialised on the session row,
 * so of two refreshes racing with one token the second sees the first's outcome: within the grace window it
 * gets the same successor, later it is a replay and the session ends.
 */
export async function rotateRefreshToken(db: Db, token: string, secret: string): Promise<RotationResult> {
  const hash = hashRefreshToken(token);
  return db.transaction().execute(async (trx): Promise<RotationResult> => {
    const owner = await trx
      .selectFrom('refresh_token')
      .select('session_id')
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    if (!owner) return { outcome: 'refused' };
    const session = await trx
      .selectFrom('session')
      .innerJoin('user', 'user.id', 'session.user_id')
      .select([
        'session.id',
        'session.user_id',
        'session.ended_at',
        'user.is_active',
        secondsLeft().as('seconds_left'),
      ])
      .where('session.id', '=', owner.session_id)
      .forUpdate('session')
      .executeTakeFirst();
    if (!session || session.ended_at !== null || session.seconds_left <= 0 || !session.is_active)
      return { outcome: 'refused' };
    // Read again now that the session is locked: a rotation that committed meanwhile has spent it.
    const presented = await trx
      .selectFrom('refresh_token')
      .select([
        'spent_at',
        sql<boolean>`spent_at > now() - make_interval(secs => ${REFRESH_GRACE_SECONDS})`.as('in_grace'),
      ])
      .where('token_hash', '=', hash)
      .executeTakeFirstOrThrow();
    const successor = successorOf(secret, token);
    const successorHash = hashRefreshToken(successor);
    const issued = { sessionId: session.id, userId: session.user_id, secondsLeft: session.seconds_left };

    if (presented.spent_at !== null) {
      if (presented.in_grace) {
        const next = await trx
          .selectFrom('refresh_token')
          .select('spent_at')
          .where('token_hash', '=', successorHash)
          .where('session_id', '=', session.id)
          .executeTakeFirst();
        if (next && next.spent_at === null) return { outcome: 'rotated', ...issued, refreshToken: successor };
      }
      await endSession(trx, session.id, 'replay');
      return { outcome: 'replayed', sessionId: session.id, userId: session.user_id };
    }
    await trx
      .updateTable('refresh_token')
      .set({ spent_at: sql`now()` })
      .where('token_hash', '=', hash)
      .execute();
    await trx
      .insertInto('refresh_token')
      .values({ token_hash: successorHash, session_id: session.id })
      .execute();
    await trx.updateTable('session').set({ last_used_at: sql`now()` }).where('id', '=', session.id).execute();
    return { outcome: 'rotated', ...issued, refreshToken: successor };
  });
}

/** The session a refresh token (spent or not) belongs to, if any. */
export async function sessionOfRefreshToken(
  db: Db,
  token: string,
): Promise<{ sessionId: string; userId: string } | undefined> {
  const row = await db
    .selectFrom('refresh_token')
    .innerJoin('session', 'session.id', 'refresh_token.session_id')
    .select(['session.id', 'session.user_id'])
    .where('refresh_token.token_hash', '=', hashRefreshToken(token))
    .executeTakeFirst();
  return row && { sessionId: row.id, userId: row.user_id };
}

/**
 * Ends one session; with `userId`, only if it is that user's. Returns whether an open session ended (false
 * when it was unknown, someone else's, or already ended).
 */
export async function endSession(
  db: Db,
  sessionId: string,
  reason: EndReason,
  userId?: string,
): Promise<boolean> {
  let query = db
    .updateTable('session')
    .set({ ended_at: sql`now()`, end_reason: reason })
    .where('id', '=', sessionId)
    .where('ended_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  const rows = await query.returning('id').execute();
  return rows.length > 0;
}

/** Ends every session of a user (reset, deactivation, deletion); returns the ids it ended. */
export async function endAllSessions(db: Db, userId: string, reason: EndReason = 'ended_by_user') {
  const rows = await db
    .updateTable('session')
    .set({ ended_at: sql`now()`, end_reason: reason })
    .where('user_id', '=', userId)
    .where('ended_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Ends every session of a user but one (a password change keeps the session that made it). */
export async function endOtherSessions(
  db: Db,
  userId: string,
  keepSessionId: string,
  reason: EndReason = 'password_change',
) {
  const rows = await db
    .updateTable('session')
    .set({ ended_at: sql`now()`, end_reason: reason })
    .where('user_id', '=', userId)
    .where('id', '!=', keepSessionId)
    .where('ended_at', 'is', null)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Ids of a user's sessions that may still be cached: every one not yet expired, ended or not. */
export async function unexpiredSessionIds(db: Db, userId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('session')
    .select('id')
    .where('user_id', '=', userId)
    .where('expires_at', '>', sql<Date>`now()`)
    .execute();
  return rows.map((row) => row.id);
}

/**
 * Deletes the expired sessions, in batches (shared/db/batched-delete.ts), and returns how many went; their
 * refresh tokens go with them. An ended session stays until it expires, so its spent tokens are still known as
 * replays; an expired one answers every token as unknown, which it then is. Runs on auth's housekeeping schedule.
 */
export function purgeExpiredSessions(db: Db, options?: BatchOptions): Promise<number> {
  // session_expires_idx finds them; SKIP LOCKED leaves a session being rotated, and another instance's batch, alone.
  const batch = (limit: number) => sql`delete from session where id in (
      select id from session where expires_at <= now()
      limit ${limit}
      for update skip locked
    )`;
  return deleteInBatches(db, batch, options);
}

export interface SessionListing extends Positioned {
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  user_agent: string | null;
}

/** A window of a user's open sessions, newest login first (the order every list shares), with their total. */
export async function listOpenSessions(
  db: Db,
  userId: string,
  window: PageWindow,
): Promise<{ rows: SessionListing[]; count: string }> {
  const open = db
    .selectFrom('session')
    .where('session.user_id', '=', userId)
    .where('session.ended_at', 'is', null)
    .where('session.expires_at', '>', sql<Date>`now()`);
  let page = open
    .select(['id', 'created_at', 'last_used_at', 'expires_at', 'user_agent'])
    .select(positionOf('session').as('position_at'));
  if (window.after) page = page.where(afterPosition('session', window.after.at, window.after.id));
  const [rows, total] = await Promise.all([
    page
      .orderBy('session.created_at', 'desc')
      .orderBy('session.id', 'desc')
      .offset(window.offset)
      .limit(window.take)
      .execute(),
    open.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  return { rows, count: total.count };
}
