import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as health } from '../../functions/health/routes.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { eventPublisher } from '../../shared/events/index.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { currentTracing, injectTraceHeaders, withSpan } from '../../shared/telemetry/tracing.ts';
import { startTestServer, type TestServer, testConfig } from '../support/app.ts';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlp-receiver.ts';

// The in-process app exporting to a real OTLP/gRPC receiver: what a collector would get, span by span.

let sinkUrl = '';
const sinkHeaders: IncomingHttpHeaders[] = [];

// Routes that exercise the cache, an outgoing delivery and a crash, as other functions will.
const probe: FunctionDefinition = {
  name: 'probe',
  prefixes: ['/api/probe'],
  routes: [
    defineRoute({
      method: 'GET',
      url: '/api/probe/cache/:key',
      operationId: 'probe_cache',
      summary: 'probe',
      responses: {},
      async handler({ ctx, request }) {
        const key = `fs:probe:v1:${(request.params as { key: string }).key}`;
        await ctx.cache.set(key, { n: 1 }, 60);
        return { value: await ctx.cache.get(key), miss: await ctx.cache.get(`${key}-absent`) };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/probe/deliver',
      operationId: 'probe_deliver',
      summary: 'probe',
      status: 202,
      responses: {},
      async handler() {
        await withSpan(
          'POST sink',
          { 'cloudevents.event_type': 'com.example.probe' },
          async (span) => {
            const response = await fetch(sinkUrl, { method: 'POST', headers: injectTraceHeaders({}) });
            span.setAttribute('http.response.status_code', response.status);
          },
          { kind: 'producer' },
        );
        return { delivered: true };
      },
    }),
    defineRoute({
      method: 'POST',
      url: '/api/probe/publish',
      operationId: 'probe_publish',
      summary: 'probe',
      status: 202,
      responses: {},
      async handler({ ctx }) {
        // Recorded only: the test has it delivered later, outside this request (as a retry or another
        // instance would), so only what the outbox row keeps can tie the delivery to this trace.
        const events = eventPublisher(ctx);
        await ctx.db.transaction().execute((trx) =>
          events.record(trx, {
            type: 'com.example.probe.published',
            source: '/probe',
            subject: 'p',
            data: {},
          }),
        );
        return { published: true };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/probe/crash',
      operationId: 'probe_crash',
      summary: 'probe',
      responses: {},
      async handler({ ctx }) {
        await sql`select 1 as before_crash`.execute(ctx.db);
        throw new Error('kaboom');
      },
    }),
  ],
};

let receiver: OtlpReceiver;
let server: TestServer;
let sink: Server;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  sink = createServer((request, response) => {
    sinkHeaders.push(request.headers);
    response.writeHead(202).end();
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, LOG_LEVEL: 'info', K_SINK: sinkUrl };
  const log = createLogger('health+probe', 'info', { write: (line: string) => lines.push(JSON.parse(line)) });
  server = await startTestServer([health, probe], env, { config: testConfig(env), log });
});

afterAll(async () => {
  await server?.stop();
  await receiver?.close();
  sink?.close();
});

/** Sends what the batch processor holds, then waits for the receiver to have the spans of `traceId`. */
async function traceOf(
  traceId: string,
  count: number,
  also: (all: ReceivedSpan[]) => boolean = () => true,
): Promise<ReceivedSpan[]> {
  const complete = (all: ReceivedSpan[]) =>
    all.filter((s) => s.traceId === traceId).length >= count && also(all);
  // Spans that end after a flush (a delivery in the background) leave with a later one.
  for (let attempt = 0; attempt < 50 && !complete(receiver.spans); attempt += 1) {
    await currentTracing()?.flush(5_000);
    if (!complete(receiver.spans)) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const spans = await receiver.waitFor(complete);
  return spans.filter((s) => s.traceId === traceId);
}

function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

describe('traces over OTLP/gRPC', () => {
  it('continues an incoming traceparent: a server span, a database child span, and a log line with its ids', async () => {
    const incoming = traceparent();
    const response = await server.api('/api/health', {
      headers: { traceparent: incoming.header, 'x-request-id': 'trace-join-1' },
    });
    expect(response.status).toBe(200);

    const spans = await traceOf(incoming.traceId, 2);
    const serverSpan = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
    expect(serverSpan).toMatchObject({
      name: 'GET /api/health',
      parentSpanId: incoming.parentId,
      attributes: {
        'http.request.method': 'GET',
        'http.route': '/api/health',
        'url.path': '/api/health',
        'http.response.status_code': 200,
        'faas.coldstart': true,
        'faas.trigger': 'http',
      },
      resource: {
        'service.name': 'health+probe',
        'service.version': packageJson.version,
        'faas.name': 'health+probe',
        'deployment.environment.name': 'development',
      },
    });
    const dbSpan = spans.find((s) => s.kind === 'SPAN_KIND_CLIENT');
    expect(dbSpan).toMatchObject({
      name: 'SELECT',
      parentSpanId: serverSpan?.spanId,
      attributes: { 'db.system': 'postgresql', 'db.statement': 'select 1', 'db.operation.name': 'SELECT' },
    });

    const line = lines.find((l) => l.request_id === 'trace-join-1');
    expect(line).toMatchObject({
      message: 'request completed',
      trace_id: incoming.traceId,
      span_id: serverSpan?.spanId,
      route: '/api/health',
      status: 200,
    });
    expect(typeof line?.duration_ms).toBe('number');
  });

  it('starts a new trace without traceparent, and marks only the first request as a cold start', async () => {
    const response = await server.api('/api/health/live', { headers: { 'x-request-id': 'trace-new-2' } });
    expect(response.status).toBe(200);
    const line = lines.find((l) => l.request_id === 'trace-new-2');
    expect(line?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const [span] = await traceOf(line?.trace_id as string, 1);
    expect(span).toMatchObject({
      name: 'GET /api/health/live',
      parentSpanId: '',
      attributes: { 'faas.coldstart': false, 'http.route': '/api/health/live' },
    });
  });

  it('records each cache call as a child span, with hit or miss and never the key itself', async () => {
    const incoming = traceparent();
    const response = await server.api('/api/probe/cache/secret-user@example.com', {
      headers: { traceparent: incoming.header },
    });
    expect(await response.json()).toEqual({ value: { n: 1 } });
    const spans = await traceOf(incoming.traceId, 4);
    const serverSpan = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
    const cacheSpans = spans.filter((s) => s.name.startsWith('cache '));
    expect(cacheSpans.map((s) => s.name).sort()).toEqual(['cache get', 'cache get', 'cache set']);
    for (const span of cacheSpans) {
      expect(span.parentSpanId).toBe(serverSpan?.spanId);
      expect(span.attributes['cache.key_prefix']).toBe('fs:probe:v1');
      expect(JSON.stringify(span)).not.toContain('secret-user');
    }
    expect(cacheSpans.filter((s) => s.name === 'cache get').map((s) => s.attributes['cache.hit'])).toEqual(
      expect.arrayContaining([true, false]),
    );
  });

  it('wraps an outgoing delivery in a producer span and sends its traceparent along', async () => {
    const incoming = traceparent();
    const response = await server.api('/api/probe/deliver', {
      method: 'POST',
      headers: { traceparent: incoming.header },
    });
    expect(response.status).toBe(202);
    const spans = await traceOf(incoming.traceId, 2);
    const serverSpan = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
    const producer = spans.find((s) => s.kind === 'SPAN_KIND_PRODUCER');
    expect(producer).toMatchObject({
      name: 'POST sink',
      parentSpanId: serverSpan?.spanId,
      attributes: { 'cloudevents.event_type': 'com.example.probe', 'http.response.status_code': 202 },
    });
    expect(sinkHeaders.at(-1)?.traceparent).toBe(`00-${incoming.traceId}-${producer?.spanId}-01`);
  });

  it("draws an event's delivery, sent after the response, in the trace of the request that wrote it", async () => {
    const incoming = traceparent();
    const response = await server.api('/api/probe/publish', {
      method: 'POST',
      headers: { traceparent: incoming.header },
    });
    expect(response.status).toBe(202);
    eventPublisher(server.ctx).relay?.wake();
    const spans = await traceOf(incoming.traceId, 2, (all) =>
      all.some((s) => s.kind === 'SPAN_KIND_PRODUCER' && s.traceId === incoming.traceId),
    );
    const serverSpan = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
    const producer = spans.find((s) => s.kind === 'SPAN_KIND_PRODUCER');
    expect(serverSpan?.name).toBe('POST /api/probe/publish');
    expect(producer).toMatchObject({
      name: 'send com.example.probe.published',
      parentSpanId: serverSpan?.spanId,
      attributes: { 'cloudevents.event_type': 'com.example.probe.published' },
    });
    expect(sinkHeaders.map((h) => h.traceparent)).toContain(`00-${incoming.traceId}-${producer?.spanId}-01`);
  });

  it('marks a 500 as an error on the server span, and its error log line carries the trace id', async () => {
    const incoming = traceparent();
    const response = await server.api('/api/probe/crash', { headers: { traceparent: incoming.header } });
    expect(response.status).toBe(500);
    const spans = await traceOf(incoming.traceId, 2);
    const serverSpan = spans.find((s) => s.kind === 'SPAN_KIND_SERVER');
    expect(serverSpan).toMatchObject({
      name: 'GET /api/probe/crash',
      status: { code: 'STATUS_CODE_ERROR' },
      attributes: { 'http.response.status_code': 500, 'error.type': '500' },
    });
    expect(spans.find((s) => s.kind === 'SPAN_KIND_CLIENT')?.attributes['db.statement']).toBe(
      'select 1 as before_crash',
    );
    const errorLine = lines.find((l) => l.message === 'unhandled error' && l.trace_id === incoming.traceId);
    expect(errorLine).toMatchObject({ level: 'error', span_id: serverSpan?.spanId });
  });

  it('names an unmatched route by its method only and still traces it', async () => {
    const incoming = traceparent();
    expect((await server.api('/api/nowhere', { headers: { traceparent: incoming.header } })).status).toBe(
      404,
    );
    const [span] = await traceOf(incoming.traceId, 1);
    expect(span).toMatchObject({ name: 'GET', attributes: { 'http.response.status_code': 404 } });
    expect(span?.attributes['http.route']).toBeUndefined();
  });
});
