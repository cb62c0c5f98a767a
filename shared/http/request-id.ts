import type { IncomingMessage } from 'node:http';

const hex = (bits: number) =>
  Math.floor(Math.random() * 2 ** bits)
    .toString(16)
    .padStart(bits / 4, '0');

/** A caller's own id is kept when it is a safe token (it reaches logs and headers as it is). */
const GIVEN_REQUEST_ID = /^[\w\-.:@]{1,128}$/;

/**
 * An id for a request that came without one: a version 4 UUID from Math.random. Request ids correlate log lines;
 * they are not secrets (a caller may choose its own), and node:crypto would cost a cold start its load time
 * for this alone.
 */
export function newRequestId(): string {
  const variant = (8 + Math.floor(Math.random() * 4)).toString(16);
  return `${hex(32)}-${hex(16)}-4${hex(12)}-${variant}${hex(12)}-${hex(24)}${hex(24)}`;
}

/** Fastify's `genReqId`: the caller's X-Request-Id when it is safe, a new one otherwise. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && GIVEN_REQUEST_ID.test(given) ? given : newRequestId();
}
