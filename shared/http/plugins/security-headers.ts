import fastifyHelmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import fp from 'fastify-plugin';

/**
 * The policy of a JSON API: it serves no HTML, so nothing may load, frame it or be sniffed. A route that serves
 * a page (the docs function) gives its own Content-Security-Policy in its `helmet` route option.
 */
export const API_SECURITY_HEADERS: FastifyHelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
  frameguard: { action: 'deny' },
  hsts: { maxAge: 31_536_000, includeSubDomains: true },
  referrerPolicy: { policy: 'no-referrer' },
};

export interface SecurityHeadersOptions {
  /** @fastify/helmet's options; API_SECURITY_HEADERS unless given. */
  helmet?: FastifyHelmetOptions;
}

/**
 * @fastify/helmet's headers on every response, and `Cache-Control: no-store` unless a route sets its own:
 * responses carry personal data and tokens, and nothing in between should keep a copy.
 *
 * @example app.register(securityHeaders)
 */
export const securityHeaders = fp<SecurityHeadersOptions>(
  async (app, options) => {
    await app.register(fastifyHelmet, options.helmet ?? API_SECURITY_HEADERS);
    app.addHook('onSend', (_request, reply, payload, next) => {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      next(null, payload);
    });
  },
  { name: 'security-headers' },
);
