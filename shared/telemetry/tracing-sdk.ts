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
  trace,
} from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-node';
import packageJson from '../../package.json' with { type: 'json' };
import { counter } from './metrics.ts';
import {
  type RemoteParent,
  type SdkTracer,
  type SpanKindName,
  type TracingOptions,
  within,
} from './tracing.ts';

/**
 * The OpenTelemetry SDK (NodeTracerProvider, a batch processor, the OTLP/gRPC exporter), loaded only when an OTLP
 * endpoint is configured (tracing.ts says what each span is; this file hands them to the SDK). The gRPC exporter
 * (grpc-js, the OTLP serializer: most of the weight) is imported when the first batch is sent, so enabling
 * tracing adds little to a cold start.
 */

const KINDS: Record<SpanKindName | 'server', SpanKind> = {
  server: SpanKind.SERVER,
  internal: SpanKind.INTERNAL,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
};

const spansExported = counter(
  'trace_spans_exported_total',
  'Spans sent to the OTLP collector, by function and outcome (ok, failed: dropped).',
  ['function', 'outcome'],
);

const EXPORT_FAILURE_LOG_INTERVAL_MS = 60_000;

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

export function createSdkTracer(options: TracingOptions): SdkTracer {
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
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new LazyOtlpTraceExporter(endpoint, options))],
  });
  // The globals (tracer provider, AsyncLocalStorage context manager, W3C trace-context and baggage propagators),
  // so code that uses @opentelemetry/api directly shares this provider and context.
  provider.register();
  const tracer = provider.getTracer(packageJson.name, packageJson.version);

  const parentContext = (parent: Span | RemoteParent | undefined): Context => {
    if (!parent) return ROOT_CONTEXT;
    if ('spanContext' in parent) return trace.setSpan(ROOT_CONTEXT, parent);
    return propagation.extract(ROOT_CONTEXT, parent, defaultTextMapGetter);
  };

  return {
    startSpan: (name, kind, attributes, parent, startTime) =>
      tracer.startSpan(name, { kind: KINDS[kind], attributes, startTime }, parentContext(parent)),
    activeSpan: () => trace.getSpan(context.active()),
    with: (span, fn) => context.with(trace.setSpan(context.active(), span), fn),
    inject(span, headers) {
      propagation.inject(trace.setSpan(context.active(), span), headers, defaultTextMapSetter);
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
