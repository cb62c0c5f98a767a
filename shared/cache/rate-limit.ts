import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../http/context.ts';
import { serviceUnavailable, tooManyRequests } from '../http/errors.ts';
import { cacheKeys } from './keys.ts';
import { CacheUnavailableError } from './types.ts';

/**
 * Fixed-window counters in the cache, so that with Upstash configured every instance counts together.
 * Login fails closed (no counter, no login: guessing passwords must never get cheaper because the cache is
 * down); the per-address limit on other routes fails open (a cache outage must not become an API outage).
 */

export interface WindowCount {
  count: number;
  retryAfterSeconds: number;
}

async function count(
  ctx: AppContext,
  scope: string,
  subject: string,
  windowSeconds: number,
): Promise<WindowCount> {
  const { count, ttlSeconds } = await ctx.cache.increment(cacheKeys.rate(scope, subject), windowSeconds);
  return { count, retryAfterSeconds: ttlSeconds > 0 ? ttlSeconds : windowSeconds };
}

async function peek(ctx: AppContext, scope: string, subject: string): Promise<number> {
  return (await ctx.cache.get<number>(cacheKeys.rate(scope, subject))) ?? 0;
}

/** Throws 429 when this account or this address has failed too many logins in the current window. */
export async function assertLoginAllowed(ctx: AppContext, email: string, address: string): Promise<void> {
  const { loginPerAccount, loginPerAddress, loginWindowSeconds } = ctx.config.rateLimit;
  const [account, client] = await Promise.all([
    peek(ctx, 'login-account', email),
    peek(ctx, 'login-address', address),
  ]);
  if (account >= loginPerAccount || client >= loginPerAddress) {
    throw tooManyRequests(loginWindowSeconds, 'Too many failed logins; try again later.');
  }
}

/** Counts a failed login against the account and the address; fails closed when the cache cannot count. */
export async function recordLoginFailure(ctx: AppContext, email: string, address: string): Promise<void> {
  const window = ctx.config.rateLimit.loginWindowSeconds;
  try {
    await Promise.all([
      count(ctx, 'login-account', email, window),
      count(ctx, 'login-address', address, window),
    ]);
  } catch (error) {
    if (error instanceof CacheUnavailableError)
      throw serviceUnavailable('Login is temporarily unavailable.', 5);
    throw error;
  }
}

/**
 * Clears an account's failure count after a successful login, so a user who mistyped a few times starts
 * afresh. The per-address count stays: an attacker must not reset it by logging in to an account of their own.
 */
export async function clearLoginFailures(ctx: AppContext, email: string): Promise<void> {
  await ctx.cache.delete(cacheKeys.rate('login-account', email));
}

/** The per-address limit on every route; fails open when the cache is down. */
export async function enforceAddressLimit(ctx: AppContext, request: FastifyRequest): Promise<void> {
  const limit = ctx.config.rateLimit.perAddressPerMinute;
  if (limit <= 0) return;
  let window: WindowCount;
  try {
    window = await count(ctx, 'address', request.ip, 60);
  } catch (error) {
    if (error instanceof CacheUnavailableError) return;
    throw error;
  }
  if (window.count > limit) throw tooManyRequests(window.retryAfterSeconds);
}
