import { createHash, createHmac, randomBytes } from 'node:crypto';

/**
 * Refresh tokens are opaque: 256 random bits, base64url. Only their SHA-256 hash is stored, so a copy of the
 * database hands out no working token.
 */
const TOKEN_BYTES = 32;

export function newRefreshToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/**
 * The token a refresh of `spent` gives. Derived from it (HMAC with the server's secret) rather than drawn at
 * random, so a second refresh with the same token inside the grace window can hand out the very same
 * successor without the plain token ever being stored.
 */
export function successorOf(secret: string, spent: string): string {
  return createHmac('sha256', secret).update(`refresh-token-successor:${spent}`).digest('base64url');
}
