import type { FastifyRequest } from 'fastify';
import { cacheKeys } from '../cache/keys.ts';
import type { UserRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import { forbidden, unauthorized } from '../http/errors.ts';
import type { Authenticator } from '../http/route.ts';
import { TokenError, verifyAccessToken } from './tokens.ts';

/** A user as every function sees it: never the password hash. */
export type CurrentUser = Omit<UserRow, 'hashed_password'>;

/** How long a token's user may be served from the cache; every change to a user also drops it at once. */
const USER_CACHE_SECONDS = 60;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface CachedUser extends Omit<CurrentUser, 'created_at' | 'updated_at'> {
  created_at: string;
  updated_at: string;
}

async function loadUser(ctx: AppContext, id: string): Promise<CurrentUser | undefined> {
  const cached = await ctx.cache.get<CachedUser>(cacheKeys.user(id));
  if (cached)
    return { ...cached, created_at: new Date(cached.created_at), updated_at: new Date(cached.updated_at) };
  const user = await ctx.db
    .selectFrom('user')
    .select([
      'id',
      'email',
      'full_name',
      'is_active',
      'is_superuser',
      'email_verified',
      'created_at',
      'updated_at',
    ])
    .where('id', '=', id)
    .executeTakeFirst();
  if (user) await ctx.cache.set<CurrentUser>(cacheKeys.user(id), user, USER_CACHE_SECONDS);
  return user;
}

/** Call after any change to a user (update, deactivation, deletion) so no stale permission survives it. */
export async function forgetUser(ctx: AppContext, id: string): Promise<void> {
  await ctx.cache.delete(cacheKeys.user(id));
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

async function authenticate(ctx: AppContext, request: FastifyRequest): Promise<CurrentUser> {
  const token = bearerToken(request);
  let subject: string;
  try {
    subject = (await verifyAccessToken(ctx.config, token)).sub;
  } catch (error) {
    if (error instanceof TokenError) throw unauthorized(error.message, true);
    throw error;
  }
  if (!UUID.test(subject)) throw unauthorized('The token is invalid.', true);
  const user = await loadUser(ctx, subject);
  if (!user) throw unauthorized('The token is invalid: its user no longer exists.', true);
  if (!user.is_active) throw unauthorized('The token is invalid: its user is inactive.', true);
  return user;
}

/** Any signed-in, active user. */
export const requireUser: Authenticator<CurrentUser> = Object.assign(authenticate, { role: 'user' as const });

/** Superusers only: 401 without a valid token, 403 with one of a normal user. */
export const requireSuperuser: Authenticator<CurrentUser> = Object.assign(
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
