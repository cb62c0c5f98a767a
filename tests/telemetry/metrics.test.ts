import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import { ConfigError, loadConfig } from '../../shared/config.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { currentTracing } from '../../shared/telemetry/tracing.ts';
import { startTestServer, type TestServer } from '../support/app.ts';

// A function whose database and collector are both unreachable (nothing listens on their ports).
const probe: FunctionDefinition = {
  name: 'probe',
  prefixes: ['/api/probe'],
  routes: [
    defineRoute({
      method: 'GET',
      url: '/api/probe/db',
      operationId: 'probe_db',
      summary: 'probe',
      responses: {},
      async handler({ ctx }) {
        await sql`select 1`.execute(ctx.db);
        return { ok: true };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/probe/ping',
      operationId: 'probe_ping',
      summary: 'probe',
      responses: {},
      async handler() {
        return { ok: true };
      },
    }),
  ],
};

let server: TestServer;
const scheduleDelay = process.env.OTEL_BSP_SCHEDULE_DELAY;

beforeAll(async () => {
  // The SDK reads its batch settings from the environment: no batch leaves before the test flushes it.
  process.env.OTEL_BSP_SCHEDULE_DELAY = '3600000';
  const [databasePort, collectorPort] = [await freePort(), await freePort()];
  server = await startTestServer([probe], {
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${databasePort}/none`,
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
    DB_CONNECT_TIMEOUT_MS: '500',
  });
});

afterAll(async () => {
  await server?.stop();
  if (scheduleDelay === undefined) delete process.env.OTEL_BSP_SCHEDULE_DELAY;
  else process.env.OTEL_BSP_SCHEDULE_DELAY = scheduleDelay;
});

async function metrics(): Promise<string> {
  const response = await server.api('/metrics');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

describe('metrics', () => {
  it('serves every function’s metrics at /metrics, with its cold start counted once', async () => {
    const text = await metrics();
    expect(text).toContain('function_cold_starts_total{function="probe"} 1');
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    expect(text).toContain('db_pool_connections{function="probe",state="total"} 0');
  });

  it('serves prom-client’s default Node.js and process metrics beside ours, each declared once', async () => {
    const text = await metrics();
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_cpu_seconds_total',
      'process_start_time_seconds',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_gc_duration_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_heap_space_size_used_bytes',
      'nodejs_version_info',
    ])
      expect(text).toContain(`# TYPE ${name} `);
    const types = text.split('\n').filter((line) => line.startsWith('# TYPE '));
    expect(new Set(types).size).toBe(types.length);
  });

  it('counts database outages answered with 503', async () => {
    for (let i = 0; i < 2; i++) {
      const response = await server.api('/api/probe/db');
      expect(response.status).toBe(503);
    }
    expect(await metrics()).toContain('db_unavailable_total{function="probe"} 2');
  });

  it('keeps answering normally while the collector is down, and counts the spans it could not send', async () => {
    for (let i = 0; i < 20; i++) {
      const response = await server.api('/api/probe/ping');
      expect(response.status).toBe(200);
    }
    // Every answer came before any export was even tried (the batch waits OTEL_BSP_SCHEDULE_DELAY, set to
    // an hour above): sending spans is off the request's path, so a collector that is down cannot slow it.
    expect(await metrics()).not.toContain('trace_spans_exported_total{');
    await currentTracing()?.flush(5_000);
    expect(await metrics()).toMatch(/trace_spans_exported_total\{function="probe",outcome="failed"\} [1-9]/);
    expect(await metrics()).toContain(
      'http_requests_total{function="probe",method="GET",route="/api/probe/ping",status="200"} 20',
    );
  });
});

describe('OpenTelemetry configuration', () => {
  const base = { SECRET_KEY: 'x'.repeat(32), OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' };

  it('reads the endpoint, service name, resource attributes and the Knative revision', () => {
    const config = loadConfig({
      ...base,
      OTEL_SERVICE_NAME: 'items-api',
      OTEL_RESOURCE_ATTRIBUTES: 'team=core,note=a%2Cb%3Dc',
      K_REVISION: 'items-00007',
    });
    expect(config.otel).toMatchObject({
      endpoint: 'http://collector:4317',
      serviceName: 'items-api',
      resourceAttributes: { team: 'core', note: 'a,b=c' },
      knative: { revision: 'items-00007' },
    });
    expect(
      loadConfig({ ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4317' }).otel.endpoint,
    ).toBe('http://traces:4317');
  });

  it('turns tracing off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    expect(loadConfig({ ...base, OTEL_SDK_DISABLED: 'true' }).otel.endpoint).toBeUndefined();
    expect(loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'none' }).otel.endpoint).toBeUndefined();
  });

  it('fails at start-up naming each bad variable', () => {
    const attempt = () =>
      loadConfig({
        ...base,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        OTEL_RESOURCE_ATTRIBUTES: 'team',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '2',
      });
    expect(attempt).toThrow(ConfigError);
    const message = (() => {
      try {
        attempt();
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    for (const name of [
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_RESOURCE_ATTRIBUTES',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
    ])
      expect(message).toContain(name);
  });
});
