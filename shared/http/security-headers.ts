import type { FastifyReply } from 'fastify';

/**
 * The headers helmet would set for a JSON API, written out: the API serves no HTML (docs sets its own policy
 * for its pages), so the strictest policy applies, and every function avoids loading helmet at cold start.
 */
const API_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

// Listed once: this runs on every response.
const API_HEADER_LIST = Object.entries(API_HEADERS);

export function applySecurityHeaders(reply: FastifyReply): void {
  for (const [name, value] of API_HEADER_LIST) {
    if (!reply.hasHeader(name)) reply.header(name, value);
  }
  // Responses carry personal data and tokens; nothing in between should keep a copy unless a route says so.
  if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
}
