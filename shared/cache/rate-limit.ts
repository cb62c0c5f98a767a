import type { FastifyRequest } from 'fastify';
import type { AppContext } from '../http/context.ts';
import { serviceUnavailable, tooManyRequests } from '../http/errors.ts';
import { cacheKeys } from './keys.ts';
import { CacheUnavailableError, type CounterState } from './types.ts';

/**
 * Fixed-window counters in the cache, so that with Upstash configured every instance counts together.
 * Login fails closed (no counter, no login: guessing passwords must never get cheaper because the cache is
 * down); the per-address limit on other routes fails open (a cache outage must not become an API outage).
 */

/** Routes that are never limited: probes and scrapes must keep working whatever a client does. */
export const UNLIMITED_ROUTES: ReadonlySet<string> = new Set(['/api/health/live', '/api/metrics']);

const ADDRESS_WINDOW_SECONDS = 60;

/** Emails compare case-insensitively (CONTRACT), so "A@x.io" and "a@x.io" share one counter. */
const accountSubject = (email: string) => email.trim().toLowerCase();

/** Runs a counter operation, turning "the cache cannot count" into a 503: login and mail fail closed. */
async function closed<T>(operation: () => Promise<T>, what = 'Login'): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof CacheUnavailableError)
      throw serviceUnavailable(`${what} is temporarily unavailable; try again shortly.`, 5);
    throw error;
  }
}

/**
 * Throws 429 (Retry-After: what is left of the window) when this account or this address has failed too many
 * logins, and 503 when the counters cannot be read.
 */
export async function assertLoginAllowed(ctx: AppContext, email: string, address: string): Promise<void> {
  const { loginPerAccount, loginPerAddress, loginWindowSeconds } = ctx.config.rateLimit;
  const [account, client] = await closed(() =>
    Promise.all([
      ctx.cache.peekCounter(cacheKeys.rate('login-account', accountSubject(email))),
      ctx.cache.peekCounter(cacheKeys.rate('login-address', address)),
    ]),
  );
  const blocked: CounterState[] = [];
  if (account.count >= loginPerAccount) blocked.push(account);
  if (client.count >= loginPerAddress) blocked.push(client);
  if (blocked.length > 0) {
    const wait = Math.max(...blocked.map((c) => (c.ttlSeconds > 0 ? c.ttlSeconds : loginWindowSeconds)));
    throw tooManyRequests(wait, 'Too many failed logins; try again later.');
  }
}

/** Counts a failed login against the account and the address; 503 when the cache cannot count. */
export async function recordLoginFailure(ctx: AppContext, email: string, address: string): Promise<void> {
  const window = ctx.config.rateLimit.loginWindowSeconds;
  await closed(() =>
    Promise.all([
      ctx.cache.increment(cacheKeys.rate('login-account', accountSubject(email)), window),
      ctx.cache.increment(cacheKeys.rate('login-address', address), window),
    ]),
  );
}

/**
 * Clears an account's failure count after a successful login, so a user who mistyped a few times starts
 * afresh. The per-address count stays: an attacker must not reset it by logging in to an account of their own.
 */
export async function clearLoginFailures(ctx: AppContext, email: string): Promise<void> {
  await ctx.cache.delete(cacheKeys.rate('login-account', accountSubject(email)));
}

/**
 * Requests that send mail (password recovery, a new verification link) go through the login limiter with the
 * login limits: every request counts, per account (the address asked about, or the signed-in user) and per
 * client address, in counters of their own. 429 past either; 503 when the cache cannot count (fails closed:
 * no counter, no mail). The same for an address with or without an account, so a 429 reveals nothing.
 */
export async function countMailRequest(
  ctx: AppContext,
  kind: 'recovery' | 'verification',
  account: string,
  address: string,
): Promise<void> {
  const { loginPerAccount, loginPerAddress, loginWindowSeconds } = ctx.config.rateLimit;
  const [perAccount, perAddress] = await closed(
    () =>
      Promise.all([
        ctx.cache.increment(cacheKeys.rate(`${kind}-account`, accountSubject(account)), loginWindowSeconds),
        ctx.cache.increment(cacheKeys.rate(`${kind}-address`, address), loginWindowSeconds),
      ]),
    kind === 'recovery' ? 'Password recovery' : 'Sending mail',
  );
  const blocked = [perAccount, perAddress].filter(
    (c, i) => c.count > (i === 0 ? loginPerAccount : loginPerAddress),
  );
  if (blocked.length > 0) {
    const wait = Math.max(...blocked.map((c) => (c.ttlSeconds > 0 ? c.ttlSeconds : loginWindowSeconds)));
    throw tooManyRequests(wait, 'Too many requests for this address; try again later.');
  }
}

/** The per-address limit on every route (RATE_LIMIT_PER_MINUTE, 0 = off); fails open when the cache is down. */
export async function enforceAddressLimit(ctx: AppContext, request: FastifyRequest): Promise<void> {
  const limit = ctx.config.rateLimit.perAddressPerMinute;
  if (limit <= 0) return;
  let window: CounterState;
  try {
    window = await ctx.cache.increment(cacheKeys.rate('address', request.ip), ADDRESS_WINDOW_SECONDS);
  } catch (error) {
    if (error instanceof CacheUnavailableError) return;
    throw error;
  }
  if (window.count > limit) throw tooManyRequests(window.ttlSeconds);
}
