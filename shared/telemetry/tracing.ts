import type { Attributes, Span, SpanContext } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import type { Config } from '../config.ts';
import type { Logger } from './logger.ts';

/**
 * Tracing, as the rest of the code sees it. This module loads no OpenTelemetry code (type imports only): the
 * SDK (tracing-sdk.ts) is imported only when an OTLP endpoint is configured, and the gRPC exporter only when
 * the first batch of spans leaves. With tracing off, `withSpan` just calls its function and
 * `injectTraceHeaders` returns the headers untouched, so instrumented code costs nothing.
 */

export type { Span } from '@opentelemetry/api';
export type SpanKindName = 'internal' | 'client' | 'producer' | 'consumer';

export interface TracingOptions {
  config: Config;
  functionName: string;
  log: Logger;
}

/** The server span of one request. */
export interface RequestSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Runs `fn` with this span active, so spans started inside (SQL, cache, events) become its children. */
  run<T>(fn: () => T): T;
  end(statusCode: number): void;
}

/** What tracing-sdk.ts provides once loaded. */
export interface TracingRuntime {
  startRequestSpan(request: FastifyRequest): RequestSpan;
  withSpan<T>(
    name: string,
    attributes: Attributes,
    fn: (span: Span) => Promise<T> | T,
    kind: SpanKindName,
  ): Promise<T>;
  inject(headers: Record<string, string>): void;
  /** Kysely's `log` hook: one CLIENT span per SQL statement, a child of the active span. */
  recordQuery(event: LogEvent): void;
  /** Wraps every method of a cache in a child span (works for any object shaped like shared/cache's Cache). */
  traceCache<C extends object>(cache: C): C;
  /** Exports what is buffered, waiting at most `timeoutMs`. */
  flush(timeoutMs: number): Promise<void>;
  /** Flushes and stops, waiting at most `timeoutMs` in all: a collector that is down never holds up an exit. */
  shutdown(timeoutMs: number): Promise<void>;
}

/** How long shutdown may spend sending the last spans; SIGTERM handling as a whole must stay under 10 s. */
export const TRACING_SHUTDOWN_MS = 1_500;

let runtime: TracingRuntime | undefined;

/** Starts tracing when an endpoint is configured; undefined (and nothing loaded) otherwise. */
export async function startTracing(options: TracingOptions): Promise<TracingRuntime | undefined> {
  if (!options.config.otel.endpoint) return undefined;
  const { createTracingRuntime } = await import('./tracing-sdk.ts');
  const started = createTracingRuntime(options);
  runtime = started;
  return started;
}

export async function stopTracing(stopped: TracingRuntime): Promise<void> {
  if (runtime === stopped) runtime = undefined;
  await stopped.shutdown(TRACING_SHUTDOWN_MS);
}

/** The running tracer, if any (the app factory and the database and cache wrappers read it). */
export function currentTracing(): TracingRuntime | undefined {
  return runtime;
}

const INVALID_SPAN_CONTEXT: SpanContext = {
  traceId: '00000000000000000000000000000000',
  spanId: '0000000000000000',
  traceFlags: 0,
};

/** What `withSpan` hands its function when tracing is off: accepts everything, records nothing. */
const NOOP_SPAN: Span = {
  spanContext: () => INVALID_SPAN_CONTEXT,
  setAttribute: () => NOOP_SPAN,
  setAttributes: () => NOOP_SPAN,
  addEvent: () => NOOP_SPAN,
  addLink: () => NOOP_SPAN,
  addLinks: () => NOOP_SPAN,
  setStatus: () => NOOP_SPAN,
  updateName: () => NOOP_SPAN,
  end: () => undefined,
  isRecording: () => false,
  recordException: () => undefined,
};

/**
 * Runs `fn` inside a span named `name`, a child of the active span (the request's, inside a handler). A throw
 * marks the span as an error and is rethrown. For an outgoing call use kind 'client' (or 'producer' for an
 * event) and send `injectTraceHeaders(headers)` with it.
 *
 *   await withSpan('POST events', { 'cloudevents.event_type': type }, (span) => deliver(...), { kind: 'producer' })
 */
export function withSpan<T>(
  name: string,
  attributes: Attributes,
  fn: (span: Span) => Promise<T> | T,
  options: { kind?: SpanKindName } = {},
): Promise<T> {
  if (!runtime) return (async () => fn(NOOP_SPAN))();
  return runtime.withSpan(name, attributes, fn, options.kind ?? 'internal');
}

/** Adds the active trace context (W3C `traceparent`, `tracestate`) to outgoing HTTP headers; returns them. */
export function injectTraceHeaders<H extends Record<string, string>>(headers: H): H {
  runtime?.inject(headers);
  return headers;
}
