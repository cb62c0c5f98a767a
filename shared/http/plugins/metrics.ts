import fp from 'fastify-plugin';
import { coldStarts, requestDuration, requestsTotal, watchPool } from '../../telemetry/http-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../../telemetry/metrics.ts';

export interface MetricsOptions {
  /** Serve GET /metrics (off when the app is only described, for the OpenAPI document). */
  endpoint?: boolean;
}

const started = new Set<string>();

/**
 * Prometheus metrics: every answered request by route template and status, its duration, the process's cold
 * start and its pool. /metrics is for the scraper (a PodMonitor on the pod's port): outside /api, so no Istio
 * route ever exposes it, and logged only at warn so a scrape every few seconds does not fill the log.
 *
 * @example app.register(metrics, { endpoint: true })
 */
export const metrics = fp<MetricsOptions>(
  (app, options, done) => {
    const { ctx } = app;
    const fn = ctx.functionName;
    if (!started.has(fn)) {
      started.add(fn);
      coldStarts.inc({ function: fn });
    }
    watchPool(fn, () => ctx.database?.pool);
    app.addHook('onResponse', (request, reply, next) => {
      const labels = {
        function: fn,
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: reply.statusCode,
      };
      requestsTotal.inc(labels);
      requestDuration.observe(labels, reply.elapsedTime / 1000);
      next();
    });
    if (options.endpoint ?? true) {
      app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) =>
        reply.type(PROMETHEUS_CONTENT_TYPE).send(await renderMetrics()),
      );
    }
    done();
  },
  { name: 'metrics' },
);
