import fp from 'fastify-plugin';
import { enforceAddressLimit, UNLIMITED_ROUTES } from '../../cache/rate-limit.ts';

/**
 * The per-address limit (RATE_LIMIT_PER_MINUTE) on every route but probes and scrapes, counted in the cache so
 * that every instance counts together. Register it after the cors plugin, so a browser can read the 429.
 *
 * @example app.register(rateLimit)
 */
export const rateLimit = fp(
  (app, _options, done) => {
    app.addHook('onRequest', async (request) => {
      if (UNLIMITED_ROUTES.has(request.routeOptions.url ?? '')) return;
      await enforceAddressLimit(app.ctx, request);
    });
    done();
  },
  { name: 'rate-limit' },
);
