import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { connectInspector, type InspectorSession } from '../support/inspector.ts';
import {
  ONE_CLIENT_LOAD_ENV,
  type Outcome,
  report,
  runWorkers,
  send,
  statusCounts,
} from '../support/load.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { type EventSink, startEventSink } from '../support/sink.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Memory and the event loop of the items bundle under a long mixed load (`npm run test:soak`, not `npm test`):
// creates with and without Idempotency-Key (and their replays), reads, updates, lists, deletes, bad input and
// missing tokens, with the outbox relay delivering to a real sink. The process's RSS must stop growing (its
// last minute within 10 % of the peak before it), the heap after a forced GC must come back near where it was
// after warm-up, and the event-loop delay is printed. The heap is read through the inspector protocol.
const SECONDS = Number(process.env.SOAK_MEMORY_SECONDS ?? 300);
const WARM_UP_SECONDS = 30;
const SAMPLE_EVERY_MS = 10_000;
const WORKERS = 8;
const USERS = 8;
const MiB = 1024 * 1024;

let scratch: ScratchDatabase;
let database: DatabaseHandle;
let sink: EventSink;
let bundle: RunningBundle;
let inspector: InspectorSession;
let users: TestUser[];

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = testDatabase(config);
  users = await Promise.all(Array.from({ length: USERS }, () => createTestUser(database.db, config)));
  sink = await startEventSink();
  const inspectPort = await freePort();
  bundle = await startBundle(
    'items',
    {
      DATABASE_URL: scratch.url,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'warn',
      DATA_DIR: tmpdir(),
      K_SINK: sink.url,
      ...ONE_CLIENT_LOAD_ENV,
    },
    { cwd: tmpdir(), nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`] },
  );
  inspector = await connectInspector(inspectPort);
  // The event-loop delay over the whole run, as perf_hooks measures it inside the process.
  await inspector.evaluate(
    `void (globalThis.__soakLoopDelay = process.getBuiltinModule('node:perf_hooks').monitorEventLoopDelay({ resolution: 10 }), globalThis.__soakLoopDelay.enable())`,
  );
}, 60_000);

afterAll(async () => {
  inspector?.close();
  await bundle?.stop('SIGKILL');
  await sink?.close();
  await database?.close();
  await scratch?.drop();
});

/** Resident set size of the bundle's process, from the kernel. */
function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1]) * 1024;
}

async function heapUsedAfterGc(): Promise<number> {
  await inspector.send('HeapProfiler.collectGarbage');
  await inspector.send('HeapProfiler.collectGarbage');
  const { usedSize } = await inspector.send<{ usedSize: number }>('Runtime.getHeapUsage');
  return usedSize;
}

const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

describe(`items bundle under ${SECONDS} s of mixed traffic`, () => {
  it(
    'RSS stops growing, the heap after GC returns near its start, no 5xx',
    async () => {
      const pid = bundle.child.pid ?? 0;
      const outcomes: Outcome[] = [];
      const samples: { at: number; rss: number; heap: number; requests: number }[] = [];
      const started = Date.now();
      const call = async (user: TestUser, method: string, path: string, body?: unknown, headers = {}) => {
        const outcome = await send(`${bundle.url}${path}`, {
          method,
          headers: {
            ...user.auth,
            ...headers,
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        outcomes.push(outcome);
        return outcome;
      };

      let heapAtWarmUp = 0;
      const sampler = setInterval(async () => {
        const { usedSize } = await inspector.send<{ usedSize: number }>('Runtime.getHeapUsage');
        const sample = {
          at: Date.now() - started,
          rss: rssBytes(pid),
          heap: usedSize,
          requests: outcomes.length,
        };
        samples.push(sample);
        process.stdout.write(
          `[soak] t=${Math.round(sample.at / 1000)}s rss=${mib(sample.rss)} MiB heap=${mib(sample.heap)} MiB requests=${sample.requests}\n`,
        );
      }, SAMPLE_EVERY_MS);
      const warmUp = setTimeout(async () => {
        heapAtWarmUp = await heapUsedAfterGc();
      }, WARM_UP_SECONDS * 1000);

      await runWorkers(
        WORKERS,
        async (worker, i) => {
          const user = users[worker % USERS]!;
          const key = i % 2 === 0 ? randomUUID() : undefined;
          const title = `soak w${worker} #${i}`;
          const headers = key ? { 'idempotency-key': key } : {};
          const created = await call(user, 'POST', '/api/items/', { title }, headers);
          if (created.status !== 201) return;
          const { id } = created.body as { id: string };
          if (key) await call(user, 'POST', '/api/items/', { title }, headers);
          await call(user, 'GET', `/api/items/${id}`);
          await call(user, 'PUT', `/api/items/${id}`, { title: `${title} (edited)`, is_active: i % 3 === 0 });
          await call(user, 'GET', `/api/items/?limit=${1 + (i % 20)}`);
          if (i % 2 === 1) await call(user, 'DELETE', `/api/items/${id}`);
          if (i % 5 === 0) {
            await call(user, 'POST', '/api/items/', { title: '' });
            await call(user, 'GET', `/api/items/${randomUUID()}`);
            await send(`${bundle.url}/api/items/`).then((o) => outcomes.push(o));
          }
        },
        { durationMs: SECONDS * 1000 },
      );
      clearInterval(sampler);
      clearTimeout(warmUp);
      const heapAtEnd = await heapUsedAfterGc();
      const delay = await inspector.evaluate<{ p50: number; p99: number; max: number }>(
        `({ p50: __soakLoopDelay.percentile(50) / 1e6, p99: __soakLoopDelay.percentile(99) / 1e6, max: __soakLoopDelay.max / 1e6 })`,
      );

      const lastMinute = samples.filter((s) => s.at > SECONDS * 1000 - 60_000);
      const before = samples.filter((s) => s.at <= SECONDS * 1000 - 60_000);
      const peakBefore = Math.max(...before.map((s) => s.rss));
      const lastMinutePeak = Math.max(...lastMinute.map((s) => s.rss));
      const serverErrors = outcomes.filter((o) => o.status >= 500 || o.status === 0);
      report(`memory soak (items bundle, ${SECONDS} s, ${WORKERS} clients)`, {
        requests: outcomes.length,
        statuses: statusCounts(outcomes),
        rss_mib_first: mib(samples[0]?.rss ?? 0),
        rss_mib_peak_before_last_minute: mib(peakBefore),
        rss_mib_peak_last_minute: mib(lastMinutePeak),
        heap_mib_after_gc_at_warm_up: mib(heapAtWarmUp),
        heap_mib_after_gc_at_end: mib(heapAtEnd),
        event_loop_delay_ms: {
          p50: Math.round(delay.p50 * 10) / 10,
          p99: Math.round(delay.p99 * 10) / 10,
          max: Math.round(delay.max),
        },
        events_delivered: sink.received.length,
      });

      expect(serverErrors.map((o) => `${o.status} ${o.error ?? JSON.stringify(o.body)}`)).toEqual([]);
      expect(lastMinute.length).toBeGreaterThan(0);
      expect(lastMinutePeak).toBeLessThanOrEqual(peakBefore * 1.1);
      expect(heapAtWarmUp).toBeGreaterThan(0);
      // Near its start: what a long run may add is a few caches filling (compiled statements, JIT code).
      expect(heapAtEnd).toBeLessThan(heapAtWarmUp * 1.2 + 2 * MiB);
    },
    (SECONDS + 120) * 1000,
  );
});
