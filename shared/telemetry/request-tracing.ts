import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestSpan, TracingRuntime } from './tracing.ts';

const spans = new WeakMap<FastifyRequest, RequestSpan>();

/**
 * One SERVER span per request, continuing the caller's W3C `traceparent`. The request's logger gains
 * `trace_id` and `span_id`, so its log line (and any error logged for it) joins the trace.
 */
export function traceRequests(app: FastifyInstance, tracing: TracingRuntime): void {
  app.addHook('onRequest', (request, _reply, done) => {
    const span = tracing.startRequestSpan(request);
    spans.set(request, span);
    request.log = request.log.child({ trace_id: span.traceId, span_id: span.spanId });
    // The hooks that follow run synchronously from done(), so they (and what they start) see the span.
    span.run(() => done());
  });
  app.addHook('onResponse', (request, reply, done) => {
    spans.get(request)?.end(reply.statusCode);
    done();
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
