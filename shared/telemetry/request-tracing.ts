import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestSpan, TracingRuntime } from './tracing.ts';

const spans = new WeakMap<FastifyRequest, RequestSpan>();

/**
 * One SERVER span per request, continuing the caller's W3C `traceparent`. The hooks after these run with the
 * span active, so the request's log lines (and any error logged for it) carry its `trace_id` (logger.ts).
 */
export function traceRequests(app: FastifyInstance, tracing: TracingRuntime): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const span = tracing.startRequestSpan(request);
    spans.set(request, span);
    // The hooks that follow run synchronously from done(), so they (and what they start) see the span.
    span.run(() => done());
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = spans.get(request);
    if (!span) return done();
    span.end(reply.statusCode);
    // The response's log line is written by a later onResponse hook: inside the span, so it joins the trace.
    span.run(() => done());
  });
  // 499: the client closed the connection before the answer (nginx's convention).
  app.addHook('onRequestAbort', (request, done) => {
    spans.get(request)?.end(499);
    done();
  });
}

/**
 * Runs a route handler with the request's span active. Body parsing reads the socket outside any context, so
 * the handler re-enters it here; SQL, cache and event spans started inside become the request's children.
 */
export function inRequestSpan<T>(request: FastifyRequest, fn: () => T): T {
  const span = spans.get(request);
  return span ? span.run(fn) : fn();
}
