import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { LogEvent } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { startTracing, stopTracing, type TracingRuntime } from '../../shared/telemetry/tracing.ts';
import { testConfig } from '../support/app.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.ts';

// The SDK is loaded after the first response: what happens before it is up must reach the collector all the same,
// with the ids the log lines and outgoing headers already carried, and the times it really happened.

let receiver: OtlpReceiver;
let tracing: TracingRuntime;

/** The OpenTelemetry API's global registry: the SDK's tracer provider appears there when it loads. */
const sdkLoaded = () =>
  Boolean(
    (globalThis as Record<symbol, { trace?: unknown } | undefined>)[Symbol.for('opentelemetry.js.api.1')]
      ?.trace,
  );

function fakeRequest(headers: Record<string, string>): FastifyRequest {
  return {
    id: 'early-1',
    method: 'GET',
    url: '/api/probe/early?x=1',
    protocol: 'http',
    ip: '127.0.0.1',
    headers,
    routeOptions: { url: '/api/probe/early' },
    raw: { httpVersion: '1.1' },
  } as unknown as FastifyRequest;
}

function query(sql: string, durationMs: number): LogEvent {
  return { level: 'query', query: { sql }, queryDurationMillis: durationMs } as unknown as LogEvent;
}

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint };
  const started = await startTracing({
    config: testConfig(env),
    functionName: 'early',
    log: createLogger('early', 'silent'),
  });
  if (!started) throw new Error('tracing did not start');
  tracing = started;
});

afterAll(async () => {
  if (tracing) await stopTracing(tracing);
  await receiver?.close();
});

describe('spans before the SDK is loaded', () => {
  it('keep their ids, times, children and outgoing traceparent when the SDK takes them over', async () => {
    expect(sdkLoaded()).toBe(false);
    const traceId = randomBytes(16).toString('hex');
    const parentId = randomBytes(8).toString('hex');
    const request = tracing.startRequestSpan(fakeRequest({ traceparent: `00-${traceId}-${parentId}-01` }));
    expect(request.traceId).toBe(traceId);
    const startedAt = Date.now();

    const outgoing: Record<string, string> = {};
    await request.run(() =>
      tracing.withSpan(
        'POST sink',
        { 'cloudevents.event_type': 'com.example.early' },
        async (span) => {
          tracing.recordQuery(query('select 1 as early', 2));
          tracing.inject(outgoing);
          span.setAttribute('http.response.status_code', 202);
        },
        'producer',
      ),
    );
    // Still recorded, not sent: nothing has loaded the SDK yet.
    expect(sdkLoaded()).toBe(false);

    // A request still running when the SDK arrives: what it does next joins the same span.
    let finish!: () => void;
    const open = tracing.startRequestSpan(fakeRequest({}));
    const running = open.run(async () => {
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      tracing.recordQuery(query('select 2 as late', 1));
    });
    request.end(200);

    await tracing.flush(5_000);
    expect(sdkLoaded()).toBe(true);
    finish();
    await running;
    open.end(503);
    await tracing.flush(5_000);

    const spans = await receiver.waitFor((all) => all.length >= 5);
    const server = spans.find((s) => s.traceId === traceId && s.kind === 'SPAN_KIND_SERVER');
    expect(server).toMatchObject({
      spanId: request.spanId,
      parentSpanId: parentId,
      name: 'GET /api/probe/early',
      attributes: {
        'http.route': '/api/probe/early',
        'http.response.status_code': 200,
        'faas.coldstart': true,
      },
      resource: { 'service.name': 'early' },
    });
    // Its real start, not the moment the SDK loaded.
    expect(server?.startMs).toBeLessThanOrEqual(startedAt + 1);
    const producer = spans.find((s) => s.name === 'POST sink');
    expect(producer).toMatchObject({ traceId, parentSpanId: request.spanId, kind: 'SPAN_KIND_PRODUCER' });
    expect(producer?.attributes['http.response.status_code']).toBe(202);
    expect(outgoing.traceparent).toBe(`00-${traceId}-${producer?.spanId}-01`);
    const sql = spans.find((s) => s.attributes['db.statement'] === 'select 1 as early');
    expect(sql).toMatchObject({ traceId, parentSpanId: producer?.spanId, name: 'SELECT' });
    expect((sql?.endMs ?? 0) - (sql?.startMs ?? 0)).toBeCloseTo(2, 0);

    const late = spans.find((s) => s.spanId === open.spanId);
    expect(late).toMatchObject({
      parentSpanId: '',
      attributes: { 'faas.coldstart': false, 'http.response.status_code': 503 },
      status: { code: 'STATUS_CODE_ERROR' },
    });
    expect(spans.find((s) => s.attributes['db.statement'] === 'select 2 as late')).toMatchObject({
      traceId: open.traceId,
      parentSpanId: open.spanId,
    });
  });
});
