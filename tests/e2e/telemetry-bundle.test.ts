import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../support/otlp-receiver.ts';
import {
  loggedMessages,
  type RunningBundle,
  SHUTDOWN_CUT_SHORT,
  SHUTDOWN_FINISHED,
  startBundle,
} from '../support/process.ts';

// The built health bundle as a real process, exporting to a real OTLP/gRPC receiver.

let receiver: OtlpReceiver;
const bundles: RunningBundle[] = [];

function env(extra: Record<string, string>): Record<string, string> {
  return { DATABASE_URL: inject('databaseUrl'), SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'info', ...extra };
}

async function start(extra: Record<string, string>): Promise<RunningBundle> {
  const bundle = await startBundle('health', env(extra), { cwd: tmpdir() });
  bundles.push(bundle);
  return bundle;
}

function traceparent() {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

beforeAll(async () => {
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  for (const bundle of bundles) await bundle.stop('SIGKILL');
  await receiver?.close();
});

describe('health bundle with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('turns a request with traceparent into a server span, a database child span and a log line of that trace', async () => {
    const bundle = await start({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_RESOURCE_ATTRIBUTES: 'team=core,service.namespace=function-set',
      K_SERVICE: 'health',
      K_CONFIGURATION: 'health',
      K_REVISION: 'health-00042',
    });
    const incoming = traceparent();
    const response = await fetch(`${bundle.url}/api/health`, { headers: { traceparent: incoming.header } });
    expect(response.status).toBe(200);

    const spans = await receiver.waitFor(
      (all) => all.filter((s) => s.traceId === incoming.traceId).length >= 2,
    );
    const trace = spans.filter((s) => s.traceId === incoming.traceId);
    const serverSpan = trace.find((s) => s.kind === 'SPAN_KIND_SERVER');
    expect(serverSpan).toMatchObject({
      name: 'GET /api/health',
      parentSpanId: incoming.parentId,
      attributes: { 'http.route': '/api/health', 'http.response.status_code': 200 },
      resource: {
        'service.name': 'health',
        'faas.name': 'health',
        'faas.version': 'health-00042',
        'knative.revision': 'health-00042',
        'knative.service': 'health',
        team: 'core',
        'service.namespace': 'function-set',
      },
    });
    const dbSpan = trace.find((s) => s.attributes['db.system'] === 'postgresql');
    expect(dbSpan).toMatchObject({
      parentSpanId: serverSpan?.spanId,
      attributes: { 'db.statement': 'select 1' },
    });

    const line = await bundle.waitForLine((l) => l.trace_id === incoming.traceId);
    expect(line).toMatchObject({
      function: 'health',
      span_id: serverSpan?.spanId,
      route: '/api/health',
      status: 200,
      message: 'request completed',
    });
    expect(line.request_id).toBeTruthy();
  });

  it('flushes buffered spans on SIGTERM before exiting 0', async () => {
    // A schedule delay far beyond the test: the only way these spans leave is the shutdown flush.
    const bundle = await start({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    const incoming = traceparent();
    expect(
      (await fetch(`${bundle.url}/api/health/live`, { headers: { traceparent: incoming.header } })).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.spans.some((s) => s.traceId === incoming.traceId)).toBe(false);

    expect(await bundle.stop('SIGTERM')).toBe(0);
    expect(receiver.spans.find((s) => s.traceId === incoming.traceId)?.name).toBe('GET /api/health/live');
  });

  it('serves clients unchanged and stops cleanly on SIGTERM when the collector swallows everything', async () => {
    // Accepts TCP and never answers: the worst collector, one that neither refuses nor responds.
    const sockets: import('node:net').Socket[] = [];
    const blackhole: Server = createServer((socket) => sockets.push(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => blackhole.listen(port, '127.0.0.1', resolve));
    try {
      const bundle = await start({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_BSP_SCHEDULE_DELAY: '50',
      });
      // Its spans' first batch leaves and the collector takes the connection, then holds it unanswered.
      expect((await fetch(`${bundle.url}/api/health`)).status).toBe(200);
      await expect.poll(() => sockets.length, { timeout: 10_000 }).toBeGreaterThan(0);
      // Answered with the export hanging: were a request to wait on it, it would wait past the test's timeout.
      for (let i = 0; i < 10; i++) {
        const response = await fetch(`${bundle.url}/api/health`);
        expect(response.status).toBe(200);
        await new Promise((r) => setTimeout(r, 30));
      }
      expect(await bundle.stop('SIGTERM')).toBe(0);
      // Its shutdown ran to the end (the flush gave up on the collector in time), not cut off by its deadline.
      expect(loggedMessages(bundle)).toContain(SHUTDOWN_FINISHED);
      expect(loggedMessages(bundle)).not.toContain(SHUTDOWN_CUT_SHORT);
    } finally {
      for (const socket of sockets) socket.destroy();
      blackhole.close();
    }
  });
});

describe('health bundle without an endpoint', () => {
  it('holds no OpenTelemetry SDK or gRPC code in what a cold start loads', () => {
    // Walk the function's static imports in the build's metafile: the SDK and the exporter may only be reached
    // through import(), which the build puts in chunks/ that a cold start never reads.
    const meta = JSON.parse(readFileSync('dist/functions/health/meta.json', 'utf8')) as {
      outputs: Record<string, { imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }>;
    };
    const seen = new Set<string>();
    const visit = (output: string) => {
      if (seen.has(output) || !meta.outputs[output]) return;
      seen.add(output);
      for (const imported of meta.outputs[output].imports)
        if (imported.kind === 'import-statement') visit(imported.path);
    };
    visit('dist/functions/health/function.cjs');
    const loaded = [...seen].flatMap((output) => Object.keys(meta.outputs[output]?.inputs ?? {}));
    expect(loaded.some((input) => input.includes('shared/http/app.ts'))).toBe(true);
    // @opentelemetry/api is loaded by prom-client (its process CPU metric can carry exemplars); it holds no SDK.
    expect(loaded.filter((input) => /@opentelemetry\/(?!api\/)|@grpc|protobufjs/.test(input))).toEqual([]);
  });
});
