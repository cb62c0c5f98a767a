import { createServer as createHttpServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  ONE_CLIENT_LOAD_ENV,
  type Outcome,
  percentile,
  report,
  send,
  statusCounts,
} from '../support/load.ts';
import {
  loggedMessages,
  type RunningBundle,
  SHUTDOWN_CUT_SHORT,
  SHUTDOWN_FINISHED,
  startBundle,
} from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Two items bundles side by side on one database: one with no cache, collector or sink configured (the
// baseline), one whose cache (Upstash REST) and event sink accept connections and never answer, and whose
// collector port has nothing listening. Clients of the second must see no error, and wait on none of them
// beyond one cache timeout (the cache's metrics say which path each call took); SIGTERM still ends it cleanly.
// The latencies of both are printed, not asserted: speed targets belong to `npm run bench`.
const CACHE_TIMEOUT_MS = 100;
const ROUNDS = 40;

let scratch: ScratchDatabase;
let database: DatabaseHandle;
let hanging: Server;
let baseline: RunningBundle;
let degraded: RunningBundle;
let user: TestUser;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = testDatabase(config);
  user = await createTestUser(database.db, config);
  // Reads the request, then never answers: a cache or broker that has stopped responding.
  hanging = createHttpServer((request) => request.resume());
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const address = hanging.address();
  const hangingUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const env = {
    DATABASE_URL: scratch.url,
    SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'error',
    DATA_DIR: tmpdir(),
    ...ONE_CLIENT_LOAD_ENV,
  };
  [baseline, degraded] = await Promise.all([
    startBundle('items', env, { cwd: tmpdir() }),
    startBundle(
      'items',
      {
        ...env,
        UPSTASH_REDIS_REST_URL: hangingUrl,
        UPSTASH_REDIS_REST_TOKEN: 'token',
        CACHE_TIMEOUT_MS: String(CACHE_TIMEOUT_MS),
        K_SINK: `${hangingUrl}/sink`,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
        OTEL_BSP_SCHEDULE_DELAY: '50',
        // Its shutdown's last line ("stopped") is at info.
        LOG_LEVEL: 'info',
      },
      { cwd: tmpdir() },
    ),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([baseline, degraded].map((b) => b?.stop('SIGKILL')));
  hanging?.closeAllConnections();
  hanging?.close();
  await database?.close();
  await scratch?.drop();
});

describe('cache, event sink and collector down', () => {
  it('no client error, no request waits on them beyond one cache timeout, SIGTERM still ends cleanly', async () => {
    const results: Record<'baseline' | 'degraded', Outcome[]> = { baseline: [], degraded: [] };
    // Interleaved, so both see the same machine load.
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, bundle] of [
        ['baseline', baseline],
        ['degraded', degraded],
      ] as const) {
        const created = await send(`${bundle.url}/api/items/`, {
          method: 'POST',
          headers: { ...user.auth, 'content-type': 'application/json' },
          body: JSON.stringify({ title: `${name} ${i}` }),
        });
        const id = (created.body as { id?: string } | undefined)?.id;
        const read = await send(`${bundle.url}/api/items/${id}`, { headers: user.auth });
        results[name].push(created, read);
      }
    }
    const errors = [...results.baseline, ...results.degraded].filter(
      (o) => o.status >= 400 || o.status === 0,
    );
    expect(errors.map((o) => `${o.status} ${o.error ?? JSON.stringify(o.body)}`)).toEqual([]);

    const p50 = (name: 'baseline' | 'degraded') =>
      percentile(
        results[name].map((o) => o.ms),
        50,
      );
    const p95 = (name: 'baseline' | 'degraded') =>
      percentile(
        results[name].map((o) => o.ms),
        95,
      );
    // Every answer above came while the cache and the sink still held their requests unanswered: none waited
    // for them. What ended the cache calls was the configured deadline, and after one the cache was skipped
    // rather than waited for again, so no request paid more than one timeout.
    const exposition = await (await fetch(`${degraded.url}/metrics`)).text();
    const cacheCalls = (result: string) =>
      [
        ...exposition.matchAll(
          new RegExp(`^cache_operations_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)$`, 'gm'),
        ),
      ]
        .map((m) => Number(m[1]))
        .reduce((a, b) => a + b, 0);
    expect(cacheCalls('timeout')).toBeGreaterThan(0);
    expect(cacheCalls('timeout')).toBeLessThanOrEqual(results.degraded.length);
    expect(cacheCalls('skipped')).toBeGreaterThan(0);
    expect(cacheCalls('error')).toBe(0);

    // Events wait in the outbox rather than being lost: one per item created on the degraded instance.
    const pending = await database.db
      .selectFrom('outbox_event')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('delivered_at', 'is', null)
      .executeTakeFirstOrThrow();
    expect(Number(pending.n)).toBe(ROUNDS);

    const signalled = Date.now();
    expect(await degraded.stop('SIGTERM')).toBe(0);
    const exitMs = Date.now() - signalled;
    // Its shutdown ran to the end on its own, rather than being cut off by its deadline with the sink hanging.
    expect(loggedMessages(degraded)).toContain(SHUTDOWN_FINISHED);
    expect(loggedMessages(degraded)).not.toContain(SHUTDOWN_CUT_SHORT);

    report('cache, sink and collector down (items bundle)', {
      requests: results.baseline.length + results.degraded.length,
      statuses: statusCounts([...results.baseline, ...results.degraded]),
      p50_ms: { baseline: Math.round(p50('baseline')), degraded: Math.round(p50('degraded')) },
      p95_ms: { baseline: Math.round(p95('baseline')), degraded: Math.round(p95('degraded')) },
      events_kept_in_outbox: Number(pending.n),
      cache_calls: { timeout: cacheCalls('timeout'), skipped: cacheCalls('skipped') },
      sigterm_exit_ms: exitMs,
    });
  }, 90_000);
});
