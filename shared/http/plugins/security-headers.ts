import fp from 'fastify-plugin';
import { applySecurityHeaders } from '../security-headers.ts';

/**
 * The headers a JSON API answers with (no framing, no sniffing, no caching of personal data).
 *
 * @example app.register(securityHeaders)
 */
export const securityHeaders = fp(
  (app, _options, done) => {
    app.addHook('onSend', (_request, reply, payload, next) => {
      applySecurityHeaders(reply);
      next(null, payload);
    });
    done();
  },
  { name: 'security-headers' },
);
