import type { IncomingHttpHeaders } from 'node:http';

const hex = (bits: number) =>
  Math.floor(Math.random() * 2 ** bits)
    .toString(16)
    .padStart(bits / 4, '0');

/**
 * An id for a request that came without one: a version 4 UUID from Math.random. Request ids correlate log lines;
 * they are not secrets (a caller may choose its own), and node:crypto would cost a cold start its load time
 * for this alone (see tests/bench/RESULTS.md).
 */
export function newRequestId(): string {
  const variant = (8 + Math.floor(Math.random() * 4)).toString(16);
  return `${hex(32)}-${hex(16)}-4${hex(12)}-${variant}${hex(12)}-${hex(24)}${hex(24)}`;
}

/** What a caller may choose as its request id; anything else gets a new one. */
const GIVEN_ID = /^[\w\-.:@]{1,128}$/;

/** The request's id: the caller's `x-request-id` when it is a sensible one, else a new one. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  return typeof given === 'string' && GIVEN_ID.test(given) ? given : newRequestId();
}
