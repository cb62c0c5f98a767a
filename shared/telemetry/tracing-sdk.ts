import { hostname } from 'node:os';
import {
  type Attributes,
  type Context,
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import type { FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import packageJson from '../../package.json' with { type: 'json' };
import { counter } from './metrics.ts';
import type { RequestSpan, SpanKindName, TracingOptions, TracingRuntime } from './tracing.ts';

/**
 * The OpenTelemetry SDK, loaded only when an OTLP endpoint is configured. Spans are recorded from the first
 * request on; the gRPC exporter (grpc-js, the OTLP serializer: most of the weight) is imported when the first
 * batch is sent, after the first responses have gone out, so enabling tracing adds little to a cold start.
 */

const KINDS: Record<SpanKindName, SpanKind> = {
  internal: SpanKind.INTERNAL,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

const spansExported = counter<'function' | 'outcome'>(
  'trace_spans_exported_total',
  'Spans sent to the OTLP collector, by function and outcome (ok, failed: dropped).',
);

// A statement longer than this is cut in db.statement; spans are not the place for whole bulk inserts.
const MAX_STATEMENT_LENGTH = 2_048;
const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

/** One per process: the first request a process serves is its cold start. */
let coldStart = true;

/**
 * Loads the OTLP/gRPC exporter on the first export. Failures are counted and logged (at most once a minute,
 * so a collector that is down does not flood the log); the batch processor drops the batch and carries on.
 */
class LazyOtlpTraceExporter implements SpanExporter {
  private exporter: Promise<SpanExporter> | undefined;
  private lastFailureLog = 0;

  constructor(
    private readonly url: string,
    private readonly options: TracingOptions,
  ) {}

  private load(): Promise<SpanExporter> {
    // Through `default` (module.exports of this CommonJS package): a code-split chunk exports only that.
    this.exporter ??= import('@opentelemetry/exporter-trace-otlp-grpc').then(
      ({ default: { OTLPTraceExporter } }) => new OTLPTraceExporter({ url: this.url }),
    );
    return this.exporter;
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const done = (result: ExportResult) => {
      this.record(result, spans.length);
      resultCallback(result);
    };
    this.load().then(
      (exporter) => exporter.export(spans, done),
      (error: unknown) => done({ code: ExportResultCode.FAILED, error: error as Error }),
    );
  }

  private record(result: ExportResult, count: number): void {
    const ok = result.code === ExportResultCode.SUCCESS;
    spansExported.inc({ function: this.options.functionName, outcome: ok ? 'ok' : 'failed' }, count);
    if (ok || Date.now() - this.lastFailureLog < EXPORT_FAILURE_LOG_INTERVAL_MS) return;
    this.lastFailureLog = Date.now();
    this.options.log.warn(
      { endpoint: this.url, spans: count, error: result.error?.message },
      'trace export failed; spans dropped (further failures are counted in trace_spans_exported_total)',
    );
  }

  async forceFlush(): Promise<void> {
    if (this.exporter) await (await this.exporter).forceFlush?.();
  }

  async shutdown(): Promise<void> {
    if (this.exporter) await (await this.exporter).shutdown();
  }
}

function resourceAttributes({ config, functionName }: TracingOptions): Attributes {
  const { knative } = config.otel;
  const attributes: Attributes = {
    'service.name': functionName,
    'service.version': packageJson.version,
    'service.instance.id': hostname(),
    'deployment.environment.name': config.environment,
    // The attribute's name before semantic conventions 1.27; many back ends still group by it.
    'deployment.environment': config.environment,
    'faas.name': functionName,
    'cloud.platform': knative.revision ? 'knative' : undefined,
    'faas.version': knative.revision,
    'knative.service': knative.service,
    'knative.configuration': knative.configuration,
    'knative.revision': knative.revision,
  };
  for (const [key, value] of Object.entries(attributes)) if (value === undefined) delete attributes[key];
  return attributes;
}

/** Bounded wait: a promise that never settles (a collector that swallows packets) cannot hold anything up. */
function within(promise: Promise<unknown>, ms: number): Promise<void> {
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

export function createTracingRuntime(options: TracingOptions): TracingRuntime {
  const { config } = options;
  const endpoint = config.otel.endpoint as string;
  const resource = defaultResource()
    .merge(resourceFromAttributes(resourceAttributes(options)))
    .merge(resourceFromAttributes(config.otel.resourceAttributes))
    // OTEL_SERVICE_NAME wins over a service.name given in OTEL_RESOURCE_ATTRIBUTES, as the spec says.
    .merge(
      config.otel.serviceName ? resourceFromAttributes({ 'service.name': config.otel.serviceName }) : null,
    );
  // Sampler (OTEL_TRACES_SAMPLER, _ARG), batch (OTEL_BSP_*) and exporter settings (OTEL_EXPORTER_OTLP_HEADERS,
  // _TIMEOUT, _COMPRESSION, _CERTIFICATE...) are read from the environment by the SDK itself.
  // The base provider: NodeTracerProvider only adds register(), and the globals are registered below.
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new LazyOtlpTraceExporter(endpoint, options))],
  });
  const tracer = provider.getTracer(packageJson.name, packageJson.version);
  const propagator = new W3CTraceContextPropagator();
  // Global registration, so code that uses @opentelemetry/api directly shares this provider and context.
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(propagator);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());

  const database = config.database.url ? new URL(config.database.url) : undefined;
  const databaseAttributes: Attributes = {
    'db.system': 'postgresql',
    'db.system.name': 'postgresql',
    'db.namespace': database?.pathname.slice(1) || undefined,
    'server.address': database?.hostname || undefined,
    'server.port': database ? Number(database.port || 5432) : undefined,
  };

  /** SQL and cache spans exist only inside an operation (a request, an event delivery), never as roots. */
  const activeParent = (): Context | undefined => {
    const active = context.active();
    return trace.getSpan(active) ? active : undefined;
  };

  const fail = (span: Span, error: unknown) => {
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
    span.setAttribute('error.type', error instanceof Error ? error.name : 'Error');
  };

  return {
    startRequestSpan(request: FastifyRequest): RequestSpan {
      const parent = propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
      const route = request.routeOptions.url;
      const path = request.url.split('?')[0] ?? request.url;
      const span = tracer.startSpan(
        route ? `${request.method} ${route}` : request.method,
        {
          kind: SpanKind.SERVER,
          attributes: {
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
        },
        parent,
      );
      coldStart = false;
      const active = trace.setSpan(parent, span);
      const { traceId, spanId } = span.spanContext();
      let ended = false;
      return {
        traceId,
        spanId,
        run: (fn) => context.with(active, fn),
        end(statusCode) {
          if (ended) return;
          ended = true;
          span.setAttribute('http.response.status_code', statusCode);
          // Server spans: a 4xx is the client's error, only a 5xx marks the span (HTTP semantic conventions).
          if (statusCode >= 500) {
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.setAttribute('error.type', String(statusCode));
          }
          span.end();
        },
      };
    },

    withSpan(name, attributes, fn, kind) {
      return tracer.startActiveSpan(name, { kind: KINDS[kind], attributes }, async (span) => {
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
      propagator.inject(context.active(), headers, defaultTextMapSetter);
    },

    recordQuery(event: LogEvent) {
      const parent = activeParent();
      if (!parent) return;
      // Kysely reports a statement once it is done, with its duration: the span is drawn backwards from now.
      const end = performance.timeOrigin + performance.now();
      const statement = event.query.sql;
      const { operation, table } = sqlSummary(statement);
      const span = tracer.startSpan(
        table ? `${operation} ${table}` : operation,
        {
          kind: SpanKind.CLIENT,
          startTime: end - event.queryDurationMillis,
          attributes: {
            ...databaseAttributes,
            // Parameterised text ($1, $2...): the values never reach the span.
            'db.statement': statement.slice(0, MAX_STATEMENT_LENGTH),
            'db.query.text': statement.slice(0, MAX_STATEMENT_LENGTH),
            'db.operation.name': operation,
            'db.collection.name': table,
          },
        },
        parent,
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
            const parent = activeParent();
            if (!parent) return method.apply(target, args);
            const span = tracer.startSpan(
              `cache ${property}`,
              {
                kind: SpanKind.CLIENT,
                attributes: {
                  ...common,
                  'cache.operation': property,
                  'cache.key_prefix': keyPrefix(args[0]),
                },
              },
              parent,
            );
            try {
              const result = context.with(trace.setSpan(parent, span), () => method.apply(target, args));
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

    flush: (timeoutMs) => within(provider.forceFlush(), timeoutMs),

    async shutdown(timeoutMs) {
      await within(provider.shutdown(), timeoutMs);
      // Lets a later app in the same process (tests, a Lambda re-init) register its own provider.
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
