import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** A span as the receiver decoded it from the wire, ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  status: { code: string; message: string };
  /** Start and end, in milliseconds since the epoch. */
  startMs: number;
  endMs: number;
}

export interface OtlpReceiver {
  /** host:port, as OTEL_EXPORTER_OTLP_ENDPOINT wants it (with http://). */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Resolves once `predicate` holds for the spans received so far (polls), or rejects after `timeoutMs`. */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface WireValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values: WireValue[] };
  bytesValue?: Buffer;
}
interface WireKeyValue {
  key: string;
  value?: WireValue;
}
interface WireRequest {
  resourceSpans: {
    resource?: { attributes: WireKeyValue[] };
    scopeSpans: {
      spans: {
        traceId: Buffer;
        spanId: Buffer;
        parentSpanId: Buffer;
        name: string;
        kind: string;
        attributes: WireKeyValue[];
        status?: { code: string; message: string };
        startTimeUnixNano: string;
        endTimeUnixNano: string;
      }[];
    }[];
  }[];
}

function decodeValue(value: WireValue | undefined): unknown {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue) return value.arrayValue.values.map(decodeValue);
  return value.bytesValue?.toString('hex');
}

function attributesOf(list: WireKeyValue[] = []): Record<string, unknown> {
  return Object.fromEntries(list.map((kv) => [kv.key, decodeValue(kv.value)]));
}

const PROTO = fileURLToPath(new URL('./otlp/trace_service.proto', import.meta.url));

/**
 * A real OTLP/gRPC trace receiver (opentelemetry.proto.collector.trace.v1.TraceService/Export) on a free port
 * of 127.0.0.1: what the function's exporter sends is decoded from protobuf as a collector would.
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const definition = protoLoader.loadSync(PROTO, {
    longs: String,
    enums: String,
    defaults: true,
    oneofs: false,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    opentelemetry: {
      proto: { collector: { trace: { v1: { TraceService: grpc.ServiceClientConstructor } } } };
    };
  };
  const service = loaded.opentelemetry.proto.collector.trace.v1.TraceService.service;
  const spans: ReceivedSpan[] = [];
  const server = new grpc.Server();
  server.addService(service, {
    Export(call: grpc.ServerUnaryCall<WireRequest, object>, callback: grpc.sendUnaryData<object>) {
      for (const resourceSpans of call.request.resourceSpans) {
        const resource = attributesOf(resourceSpans.resource?.attributes);
        for (const scope of resourceSpans.scopeSpans)
          for (const span of scope.spans)
            spans.push({
              traceId: span.traceId.toString('hex'),
              spanId: span.spanId.toString('hex'),
              parentSpanId: span.parentSpanId.toString('hex'),
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              resource,
              status: span.status ?? { code: 'STATUS_CODE_UNSET', message: '' },
              startMs: Number(BigInt(span.startTimeUnixNano) / 1000n) / 1000,
              endMs: Number(BigInt(span.endTimeUnixNano) / 1000n) / 1000,
            });
      }
      callback(null, {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    async waitFor(predicate, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(spans)) {
        if (Date.now() > deadline)
          throw new Error(`spans never matched; received: ${spans.map((s) => s.name).join(', ') || 'none'}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return spans;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      }),
  };
}
