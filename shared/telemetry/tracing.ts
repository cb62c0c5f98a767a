import { AsyncLocalStorage } from 'node:async_hooks';
import type { Attributes, Span, SpanContext } from '@opentelemetry/api';
import type { FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import type { Config } from '../config.ts';
import { EarlySpan, epochNow, type RemoteParent } from './early-span.ts';
import type { Logger } from './logger.ts';

/**
 * Tracing, as the rest of the code sees it: which spans exist and what they say. This module loads no
 * OpenTelemetry code (type imports only): the SDK (tracing-sdk.ts) is imported only when an OTLP endpoint is
 * configured, after the first response (see startTracing), and the gRPC exporter only when the first batch of
 * spans leaves. With tracing off, `withSpan` just calls its function and `injectTraceHeaders` returns the headers
 * untouched, so instrumented code costs nothing.
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

/**
 * When no request comes to trigger it (an instance started ahead of traffic), the SDK is loaded this long after
 * start-up anyway.
 */
const SDK_LOAD_DELAY_MS = 1_000;

/**
 * What tracing-sdk.ts provides once loaded: the OpenTelemetry SDK behind the few operations this module needs.
 * A parent may be an EarlySpan (started before the SDK was up): the SDK adopts it first.
 */
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
  /** Starts an EarlySpan's twin in the SDK (same ids, start time, attributes) and hands it over. */
  adopt(span: EarlySpan): Span;
  flush(timeoutMs: number): Promise<void>;
  shutdown(timeoutMs: number): Promise<void>;
}

let runtime: TracingRuntime | undefined;

/**
 * Starts tracing when an endpoint is configured; undefined (and nothing loaded) otherwise. The SDK itself is not
 * loaded here: requests are traced from the first one on, but that one is answered first. Until the SDK is up,
 * spans are EarlySpans (ids, times, attributes, children, all recorded); the SDK is loaded right after the first
 * response has gone out (or SDK_LOAD_DELAY_MS after start when no request comes, or on a flush or shutdown), and
 * takes them over with the same ids and times. Loading it costs a few milliseconds of CPU, which the first
 * request no longer waits for.
 */
export async function startTracing(options: TracingOptions): Promise<TracingRuntime | undefined> {
  if (!options.config.otel.endpoint) return undefined;
  const started = createTracing(options);
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

function createTracing(options: TracingOptions): TracingRuntime {
  const { config, log } = options;
  let sdk: SdkTracer | undefined;
  let loading: Promise<SdkTracer | undefined> | undefined;
  /** Spans started before the SDK was up, in order (a parent before its children), for it to adopt. */
  let early: EarlySpan[] | undefined = [];
  /** The active EarlySpan, where no SDK context is (code that started before the SDK was up). */
  const earlyContext = new AsyncLocalStorage<EarlySpan>();

  const load = (): Promise<SdkTracer | undefined> => {
    loading ??= import('./tracing-sdk.ts').then(
      ({ createSdkTracer }) => {
        clearTimeout(timer);
        sdk = createSdkTracer(options);
        const adopted = early ?? [];
        early = undefined;
        for (const span of adopted) sdk.adopt(span);
        return sdk;
      },
      (error: unknown) => {
        clearTimeout(timer);
        early = undefined;
        log.error(
          { err: error },
          'tracing: the OpenTelemetry SDK could not be loaded; no spans will be sent',
        );
        return undefined;
      },
    );
    return loading;
  };
  const timer = setTimeout(load, SDK_LOAD_DELAY_MS);
  timer.unref();
  let loadScheduled = false;
  /** After a response: the SDK loads once this turn of the event loop (and the response's I/O) is done. */
  const loadSoon = () => {
    if (sdk || loadScheduled) return;
    loadScheduled = true;
    setImmediate(load);
  };

  const activeSpan = (): Span | undefined => sdk?.activeSpan() ?? earlyContext.getStore();
  const startSpan = (
    name: string,
    kind: SpanKindName | 'server',
    attributes: Attributes,
    parent: Span | RemoteParent | undefined,
    startTime?: number,
  ): Span => {
    if (sdk) return sdk.startSpan(name, kind, attributes, parent, startTime);
    const span = new EarlySpan(
      name,
      kind,
      attributes,
      parent as EarlySpan | RemoteParent | undefined,
      startTime,
    );
    early?.push(span);
    return span;
  };
  const withActive = <T>(span: Span, fn: () => T): T =>
    sdk ? sdk.with(span, fn) : earlyContext.run(span as EarlySpan, fn);

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
          loadSoon();
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
      if (!span) return;
      if (sdk) {
        sdk.inject(span, headers);
        return;
      }
      const { traceId, spanId, traceFlags } = span.spanContext();
      headers.traceparent = `00-${traceId}-${spanId}-0${traceFlags & 1}`;
      const state = (span as EarlySpan).tracestate;
      if (state) headers.tracestate = state;
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

    async flush(timeoutMs) {
      const started = performance.now();
      const loaded = await load();
      await loaded?.flush(Math.max(0, timeoutMs - (performance.now() - started)));
    },

    async shutdown(timeoutMs) {
      clearTimeout(timer);
      // Nothing was ever traced: nothing to send, and no SDK to load for it.
      if (!sdk && !loading && early?.length === 0) {
        early = undefined;
        return;
      }
      const started = performance.now();
      const loaded = await load();
      await loaded?.shutdown(Math.max(0, timeoutMs - (performance.now() - started)));
    },
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
