import type { FastifyRequest } from 'fastify';
import { sql } from 'kysely';
import { cacheKeys } from '../cache/keys.ts';
import type { UserRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import { forbidden, unauthorized } from '../http/errors.ts';
import type { Authenticator } from '../http/route.ts';
import { unexpiredSessionIds } from './session-store.ts';
import { TokenError, verifyAccessToken } from './tokens.ts';

/** A user as every function sees it: never the password hash. */
export type CurrentUser = Omit<UserRow, 'hashed_password'>;

/**
 * How long a session's user may be served from the cache; ending a session, and every change to a user,
 * drops the entry at once (from the shared cache when Upstash is configured, so every instance sees it).
 */
const SESSION_CACHE_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A signed-in caller: the user and the session their access token belongs to. */
export interface SignedInUser extends CurrentUser {
  sessionId: string;
}

/** What the cache keeps per open session: its user, and when the session expires (epoch ms). */
interface CachedSession {
  user: Omit<CurrentUser, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string };
  expires_at: number;
}

/**
 * The user of an open session, or undefined when the session has ended, expired or is not this user's. One
 * cache read per request, as loading the user alone was: the entry exists only while the session is open.
 */
async function loadSessionUser(
  ctx: AppContext,
  userId: string,
  sessionId: string,
): Promise<CurrentUser | undefined> {
  const key = cacheKeys.session(sessionId);
  const cached = await ctx.cache.get<CachedSession>(key);
  if (cached && cached.user.id === userId && cached.expires_at > Date.now()) {
    const { user } = cached;
    return { ...user, created_at: new Date(user.created_at), updated_at: new Date(user.updated_at) };
  }
  const row = await ctx.db
    .selectFrom('session')
    .innerJoin('user', 'user.id', 'session.user_id')
    .select([
      'user.id',
      'user.email',
      'user.full_name',
      'user.is_active',
      'user.is_superuser',
      'user.email_verified',
      'user.created_at',
      'user.updated_at',
      'session.expires_at',
    ])
    .where('session.id', '=', sessionId)
    .where('session.user_id', '=', userId)
    .where('session.ended_at', 'is', null)
    .where('session.expires_at', '>', sql<Date>`now()`)
    .executeTakeFirst();
  if (!row) return undefined;
  const { expires_at, ...user } = row;
  const ttl = Math.min(SESSION_CACHE_SECONDS, (expires_at.getTime() - Date.now()) / 1000);
  await ctx.cache.set<{ user: CurrentUser; expires_at: number }>(
    key,
    { user, expires_at: expires_at.getTime() },
    ttl,
  );
  return user;
}

/** Drops the cached entries of these sessions; call after the transaction that ended them committed. */
export async function forgetSessions(ctx: AppContext, sessionIds: readonly string[]): Promise<void> {
  if (sessionIds.length > 0) await ctx.cache.delete(...sessionIds.map(cacheKeys.session));
}

/**
 * Call after any change to a user (update, deactivation) so no stale permission survives it: drops the cached
 * entry of each of the user's sessions that has not expired, ended ones included (they may have ended in the
 * same transaction).
 */
export async function forgetUser(ctx: AppContext, id: string): Promise<void> {
  await forgetSessions(ctx, await unexpiredSessionIds(ctx.db, id));
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw unauthorized('Not authenticated: send an Authorization: Bearer token.');
  const [scheme, token, ...rest] = header.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length > 0) {
    throw unauthorized('Not authenticated: the Authorization header must be "Bearer <token>".');
  }
  return token;
}

async function authenticate(ctx: AppContext, request: FastifyRequest): Promise<SignedInUser> {
  const token = bearerToken(request);
  let claims: { sub: unknown; sid: unknown };
  try {
    claims = await verifyAccessToken(ctx.config, token);
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(error.message, true);
    throw error;
  }
  const { sub, sid } = claims;
  if (typeof sub !== 'string' || typeof sid !== 'string' || !UUID.test(sub) || !UUID.test(sid))
    throw unauthorized('The token is invalid.', true);
  const user = await loadSessionUser(ctx, sub.toLowerCase(), sid.toLowerCase());
  if (!user) throw unauthorized('The token is invalid: its session has ended.', true);
  if (!user.is_active) throw unauthorized('The token is invalid: its user is inactive.', true);
  return { ...user, sessionId: sid.toLowerCase() };
}

/** Any signed-in, active user. */
export const requireUser: Authenticator<SignedInUser> = Object.assign(authenticate, {
  role: 'user' as const,
});

/** Superusers only: 401 without a valid token, 403 with one of a normal user. */
export const requireSuperuser: Authenticator<SignedInUser> = Object.assign(
  async (ctx: AppContext, request: FastifyRequest) => {
    const user = await authenticate(ctx, request);
    if (!user.is_superuser) throw forbidden('This operation needs a superuser.');
    return user;
  },
  { role: 'superuser' as const },
);

/** Owner-or-superuser rule shared by users and items. */
export function canAccess(user: CurrentUser, ownerId: string): boolean {
  return user.is_superuser || user.id === ownerId;
}
