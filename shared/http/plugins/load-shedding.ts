import fp from 'fastify-plugin';
import { requestsShed } from '../../telemetry/http-metrics.ts';
import { busy } from '../errors.ts';

export interface LoadSheddingOptions {
  /** Requests served at once; past it, a 503 with Retry-After. */
  maxInFlight: number;
  /** Route templates never shed. */
  neverShed?: readonly string[];
}

/** Liveness: a restart would only make an overload worse. The OpenAPI document lists 503 for every other route. */
export const NEVER_SHED: readonly string[] = ['/api/health/live'];

/**
 * A bounded number of requests at once: past it a quick 503 beats a queue whose latency grows unbounded.
 * Liveness is never shed by default: a restart would only make an overload worse.
 *
 * @example app.register(loadShedding, { maxInFlight: 200 })
 */
export const loadShedding = fp<LoadSheddingOptions>(
  (app, options, done) => {
    const neverShed = new Set(options.neverShed ?? NEVER_SHED);
    let inFlight = 0;
    app.addHook('onRequest', (request, reply, next) => {
      if (neverShed.has(request.routeOptions.url ?? '')) return next();
      if (inFlight >= options.maxInFlight) {
        requestsShed.inc({ function: app.ctx.functionName, reason: 'in_flight' });
        return next(busy());
      }
      inFlight += 1;
      // 'close' fires for every response, finished or aborted, so the count cannot leak.
      reply.raw.once('close', () => {
        inFlight -= 1;
      });
      next();
    });
    done();
  },
  { name: 'load-shedding' },
);
