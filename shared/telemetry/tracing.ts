import type { Attributes, Span, SpanContext } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import type { Config } from '../config.ts';
import type { Logger } from './logger.ts';

/**
 * Tracing, as the rest of the code sees it: which spans exist and what they say. This module loads no
 * OpenTelemetry code (type imports only): the SDK (tracing-sdk.ts) is imported only when an OTLP endpoint is
 * configured, and the gRPC exporter only when the first batch of spans leaves. With tracing off, `withSpan` just
 * calls its function and `injectTraceHeaders` returns the headers untouched, so instrumented code costs nothing.
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

/** Tracing while it runs (currentTracing()). */
export interface TracingRuntime {
  startRequestSpan(request: FastifyRequest): RequestSpan;
  withSpan<T>(
    name: string,
    attributes: Attributes,
    fn: (span: Span) => Promise<T> | T,
    kind: SpanKindName,
    parent?: RemoteParent,
  ): Promise<T>;
  inject(headers: Record<string, string>): void;
  /** The ids of the active span, if any (the logger's mixin puts them on each line). */
  activeSpanContext(): SpanContext | undefined;
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

/** The caller's trace context, as received (W3C `traceparent`, `tracestate`). */
export interface RemoteParent {
  traceparent?: string | string[];
  tracestate?: string | string[];
}

/** What tracing-sdk.ts provides once loaded: the OpenTelemetry SDK behind the few operations this module needs. */
export interface SdkTracer {
  startSpan(
    name: string,
    kind: SpanKindName | 'server',
    attributes: Attributes,
    parent: Span | RemoteParent | undefined,
    startTime?: number,
  ): Span;
  /** The span active in the SDK's context, if any. */
  activeSpan(): Span | undefined;
  /** Runs `fn` with `span` active. */
  with<T>(span: Span, fn: () => T): T;
  /** Writes `span`'s context into outgoing headers (traceparent, tracestate). */
  inject(span: Span, headers: Record<string, string>): void;
  flush(timeoutMs: number): Promise<void>;
  shutdown(timeoutMs: number): Promise<void>;
}

let runtime: TracingRuntime | undefined;

/**
 * Starts tracing when an endpoint is configured: loads the SDK (tracing-sdk.ts) and registers its tracer
 * provider. Undefined, and nothing loaded, without an endpoint, or when the SDK cannot be loaded (logged: the
 * function serves untraced rather than not at all).
 */
export async function startTracing(options: TracingOptions): Promise<TracingRuntime | undefined> {
  if (!options.config.otel.endpoint) return undefined;
  let sdk: SdkTracer;
  try {
    const { createSdkTracer } = await import('./tracing-sdk.ts');
    sdk = createSdkTracer(options);
  } catch (error) {
    options.log.error(
      { err: error },
      'tracing: the OpenTelemetry SDK could not be loaded; no spans will be sent',
    );
    return undefined;
  }
  const started = createTracing(options, sdk);
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

/** One per process: the first request a process serves is its cold start. */
let coldStart = true;

// A statement longer than this is cut in db.statement; spans are not the place for whole bulk inserts.
const MAX_STATEMENT_LENGTH = 2_048;

/** Bounded wait: a promise that never settles (a collector that swallows packets) cannot hold anything up. */
export function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    timeout,
  ]).finally(() => clearTimeout(timer));
}

/** `fs:user:v1:<id>` → `fs:user:v1`: the kind of entry, never the id or the email inside a key. */
function keyPrefix(key: unknown): string | undefined {
  return typeof key === 'string' ? key.split(':').slice(0, 3).join(':') : undefined;
}

function sqlSummary(statement: string): { operation: string; table: string | undefined } {
  const operation = (/^\s*(\w+)/.exec(statement)?.[1] ?? 'QUERY').toUpperCase();
  const table = /\b(?:from|into|update|join)\s+"?([\w.]+)"?/i.exec(statement)?.[1];
  return { operation, table };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** SpanStatusCode.ERROR, without loading @opentelemetry/api for it. */
const STATUS_ERROR = 2;

function fail(span: Span, error: unknown) {
  span.setStatus({ code: STATUS_ERROR, message: errorMessage(error) });
  span.setAttribute('error.type', error instanceof Error ? error.name : 'Error');
}

/** Milliseconds since the epoch, with the sub-millisecond part: what the SDK takes as a start or end time. */
function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

function createTracing({ config }: TracingOptions, sdk: SdkTracer): TracingRuntime {
  const activeSpan = (): Span | undefined => sdk.activeSpan();
  const startSpan = sdk.startSpan;
  const withActive = <T>(span: Span, fn: () => T): T => sdk.with(span, fn);

  const database = config.database.url ? new URL(config.database.url) : undefined;
  const databaseAttributes: Attributes = {
    'db.system': 'postgresql',
    'db.system.name': 'postgresql',
    'db.namespace': database?.pathname.slice(1) || undefined,
    'server.address': database?.hostname || undefined,
    'server.port': database ? Number(database.port || 5432) : undefined,
  };

  return {
    startRequestSpan(request: FastifyRequest): RequestSpan {
      const route = request.routeOptions.url;
      const path = request.url.split('?')[0] ?? request.url;
      const { traceparent, tracestate } = request.headers;
      const span = startSpan(
        route ? `${request.method} ${route}` : request.method,
        'server',
        {
          'http.request.method': request.method,
          'url.path': path,
          'url.scheme': request.protocol,
          'http.route': route,
          'network.protocol.version': request.raw.httpVersion,
          'client.address': request.ip,
          'user_agent.original': request.headers['user-agent'],
          'faas.trigger': 'http',
          'faas.coldstart': coldStart,
          'http.request.id': request.id,
        },
        { traceparent, tracestate },
      );
      coldStart = false;
      const { traceId, spanId } = span.spanContext();
      let ended = false;
      return {
        traceId,
        spanId,
        run: (fn) => withActive(span, fn),
        end(statusCode) {
          if (ended) return;
          ended = true;
          span.setAttribute('http.response.status_code', statusCode);
          // Server spans: a 4xx is the client's error, only a 5xx marks the span (HTTP semantic conventions).
          if (statusCode >= 500) {
            span.setStatus({ code: STATUS_ERROR });
            span.setAttribute('error.type', String(statusCode));
          }
          span.end();
        },
      };
    },

    withSpan(name, attributes, fn, kind, parent) {
      const span = startSpan(name, kind, attributes, parent ?? activeSpan());
      return withActive(span, async () => {
        try {
          return await fn(span);
        } catch (error) {
          span.recordException(error as Error);
          fail(span, error);
          throw error;
        } finally {
          span.end();
        }
      });
    },

    inject(headers) {
      const span = activeSpan();
      if (span) sdk.inject(span, headers);
    },

    activeSpanContext() {
      return activeSpan()?.spanContext();
    },

    recordQuery(event: LogEvent) {
      // SQL spans exist only inside an operation (a request, an event delivery), never as roots.
      const parent = activeSpan();
      if (!parent) return;
      // Kysely reports a statement once it is done, with its duration: the span is drawn backwards from now.
      const end = epochNow();
      const statement = event.query.sql;
      const { operation, table } = sqlSummary(statement);
      const span = startSpan(
        table ? `${operation} ${table}` : operation,
        'client',
        {
          ...databaseAttributes,
          // Parameterised text ($1, $2...): the values never reach the span.
          'db.statement': statement.slice(0, MAX_STATEMENT_LENGTH),
          'db.query.text': statement.slice(0, MAX_STATEMENT_LENGTH),
          'db.operation.name': operation,
          'db.collection.name': table,
        },
        parent,
        end - event.queryDurationMillis,
      );
      if (event.level === 'error') {
        fail(span, event.error);
        const code = (event.error as { code?: unknown } | undefined)?.code;
        if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
      }
      span.end(end);
    },

    traceCache<C extends object>(cache: C): C {
      const kind = (cache as { kind?: unknown }).kind;
      const common: Attributes = {
        'cache.backend': typeof kind === 'string' ? kind : 'unknown',
        'db.system': kind === 'upstash' ? 'redis' : undefined,
        'db.system.name': kind === 'upstash' ? 'redis' : undefined,
      };
      return new Proxy(cache, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          if (typeof value !== 'function' || typeof property !== 'string' || property === 'close')
            return value;
          const method = value as (...args: unknown[]) => unknown;
          return (...args: unknown[]) => {
            // Like SQL, cache spans exist only inside an operation.
            const parent = activeSpan();
            if (!parent) return method.apply(target, args);
            const span = startSpan(
              `cache ${property}`,
              'client',
              { ...common, 'cache.operation': property, 'cache.key_prefix': keyPrefix(args[0]) },
              parent,
            );
            try {
              const result = withActive(span, () => method.apply(target, args));
              if (!(result instanceof Promise)) {
                span.end();
                return result;
              }
              return result.then(
                (resolved: unknown) => {
                  if (property === 'get') span.setAttribute('cache.hit', resolved !== undefined);
                  span.end();
                  return resolved;
                },
                (error: unknown) => {
                  fail(span, error);
                  span.end();
                  throw error;
                },
              );
            } catch (error) {
              fail(span, error);
              span.end();
              throw error;
            }
          };
        },
      });
    },

    flush: (timeoutMs) => sdk.flush(timeoutMs),
    shutdown: (timeoutMs) => sdk.shutdown(timeoutMs),
  };
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
  options: {
    kind?: SpanKindName;
    /** A parent from elsewhere (an event's stored `traceparent`) instead of the active span. */
    parent?: RemoteParent;
  } = {},
): Promise<T> {
  if (!runtime) return (async () => fn(NOOP_SPAN))();
  return runtime.withSpan(name, attributes, fn, options.kind ?? 'internal', options.parent);
}

/** Adds the active trace context (W3C `traceparent`, `tracestate`) to outgoing HTTP headers; returns them. */
export function injectTraceHeaders<H extends Record<string, string>>(headers: H): H {
  runtime?.inject(headers);
  return headers;
}
