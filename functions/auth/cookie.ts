import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../shared/config.ts';
import { oauthError } from './oauth-errors.ts';

/**
 * Browser mode: the refresh token travels in an HttpOnly cookie instead of the body, so page scripts (and
 * whatever XSS runs in them) never see it. SameSite=Strict keeps other sites' requests from carrying it, and
 * a request that uses it must come from an Origin listed in BACKEND_CORS_ORIGINS, which stops what SameSite
 * does not (a sibling subdomain is "same site").
 */
export const REFRESH_COOKIE = 'refresh_token';
const COOKIE_PATH = '/api/auth';

export function refreshCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  return header ? parseCookie(header)[REFRESH_COOKIE] : undefined;
}

/** Refuses (403) a request that would use the cookie unless its Origin is one of BACKEND_CORS_ORIGINS. */
export function assertCookieOrigin(config: Config, request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin && config.corsOrigins.includes(origin)) return;
  throw oauthError(
    403,
    'invalid_request',
    origin
      ? `The refresh token cookie is not accepted from origin ${origin}: it is not in BACKEND_CORS_ORIGINS.`
      : 'The refresh token cookie is accepted only with an Origin header naming an allowed origin.',
  );
}

export function setRefreshCookie(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
  reply.header('set-cookie', refreshCookie(token, maxAgeSeconds));
}

/** A Set-Cookie that deletes the refresh cookie (after a logout, or when the one sent no longer works). */
export function clearedRefreshCookie(): string {
  return refreshCookie('', 0);
}

function refreshCookie(value: string, maxAge: number): string {
  return stringifySetCookie({
    name: REFRESH_COOKIE,
    value,
    maxAge,
    path: COOKIE_PATH,
    httpOnly: true,
    secure: true,
    sameSite: 'strict',
  });
}
