import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';

// The built health bundle as a real process, against a PostgreSQL of its own that the test can stop
// (never the machine's shared server).
let database: EmbeddedDatabase;
let bundle: RunningBundle;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'fs-health-pg-'));
  database = await startEmbeddedPostgres({ dataDir, settings: { fsync: 'off' } });
  // Run from another working directory: the bundle must not depend on the checkout.
  bundle = await startBundle(
    'health',
    { DATABASE_URL: database.url, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'info' },
    { cwd: tmpdir() },
  );
}, 120_000);

afterAll(async () => {
  await bundle?.stop('SIGKILL');
  await database?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('health bundle', () => {
  it('serves readiness, liveness and metrics', async () => {
    const health = await fetch(`${bundle.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', checks: { database: 'ok', cache: 'disabled' } });

    const live = await fetch(`${bundle.url}/api/health/live/`);
    expect(live.status).toBe(200);

    const metrics = await fetch(`${bundle.url}/api/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain(
      'http_requests_total{function="health",method="GET",route="/api/health",status="200"} 1',
    );
    // prom-client's default metrics, beside ours, as Node.js dashboards read them.
    for (const name of [
      'process_resident_memory_bytes',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_space_size_used_bytes',
      'nodejs_gc_duration_seconds',
    ])
      expect(text).toContain(`# TYPE ${name} `);
  });

  it('logs one JSON line per request with its request id', async () => {
    await fetch(`${bundle.url}/api/health/live`, { headers: { 'x-request-id': 'e2e-log-line' } });
    const line = await bundle.waitForLine((l) => l.request_id === 'e2e-log-line');
    expect(line).toMatchObject({ function: 'health', route: '/api/health/live', status: 200, level: 'info' });
  });

  // Fastify's not-found router and the 405 hook, as the bundle runs them, under every method.
  it('answers unknown paths with a 404 and known paths with another method with a 405, whatever the method', async () => {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND']) {
      for (const path of ['/', '/api/nowhere', '/api/health/live/extra']) {
        const response = await fetch(`${bundle.url}${path}`, { method });
        expect([method, path, response.status]).toEqual([method, path, 404]);
        expect(response.headers.get('content-type')).toContain('application/problem+json');
        if (method !== 'HEAD') expect((await response.json()).instance).toBe(path);
      }
    }
    const wrongMethod = await fetch(`${bundle.url}/api/health/live`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    expect(bundle.lines.join('\n')).not.toContain('did not catch this');
  });

  it('answers 503 while the database is down, keeps liveness, and recovers', async () => {
    await database.stop();
    const down = await fetch(`${bundle.url}/api/health`);
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toContain('application/problem+json');
    expect(down.headers.get('retry-after')).toBeTruthy();
    expect((await fetch(`${bundle.url}/api/health/live`)).status).toBe(200);

    await database.restart();
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await fetch(`${bundle.url}/api/health`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(200);
  }, 60_000);

  it('exits 0 on SIGTERM', async () => {
    expect(await bundle.stop('SIGTERM')).toBe(0);
  });
});
