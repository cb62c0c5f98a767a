import fp from 'fastify-plugin';
import { traceRequests } from '../../telemetry/request-tracing.ts';
import { startTracing, stopTracing } from '../../telemetry/tracing.ts';

/**
 * A span per request, joined to the caller's trace (W3C traceparent), when OTEL_EXPORTER_OTLP_ENDPOINT is set;
 * nothing otherwise. Register it first, so preflights and early rejections get a span and a trace id too.
 *
 * @example app.register(tracing)
 */
export const tracing = fp(
  async (app) => {
    const { ctx } = app;
    const runtime = await startTracing({ config: ctx.config, functionName: ctx.functionName, log: ctx.log });
    if (!runtime) return;
    traceRequests(app, runtime);
    ctx.onClose(() => stopTracing(runtime));
  },
  { name: 'tracing' },
);
