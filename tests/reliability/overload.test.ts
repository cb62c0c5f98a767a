import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
import { type RunningBundle, startBundle } from '../support/process.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

// Overload: more requests than a process should hold at once. Past the in-flight limit and past the pool's
// wait queue, the excess gets a 503 problem+json with Retry-After instead of joining a queue whose latency
// grows without bound; liveness keeps answering throughout. Which path each answer took is asserted (its
// detail, the shed counter, the fault still in place when it arrived); latencies are printed, not asserted.

const common = {
  SECRET_KEY: TEST_SECRET_KEY,
  BCRYPT_COST: '4',
  LOG_LEVEL: 'warn',
  DATA_DIR: tmpdir(),
  ...ONE_CLIENT_LOAD_ENV,
};
const burst = (count: number, url: string, init?: RequestInit) =>
  Promise.all(Array.from({ length: count }, () => send(url, init)));
const detailOf = (o: Outcome) => (o.body as { detail?: unknown } | undefined)?.detail;

function expectProblem503(outcomes: Outcome[]) {
  for (const o of outcomes) {
    expect(o.status, JSON.stringify(o.body ?? o.error)).toBe(503);
    expect(o.problemJson).toBe(true);
    expect(o.retryAfter).toMatch(/^\d+$/);
    expect(typeof detailOf(o)).toBe('string');
  }
}

describe('a frozen database (accepts connections, never answers): the in-flight limit', () => {
  let blackhole: Server;
  const sockets = new Set<Socket>();
  let bundle: RunningBundle;

  beforeAll(async () => {
    blackhole = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const address = blackhole.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    bundle = await startBundle(
      'health',
      {
        ...common,
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/app`,
        MAX_IN_FLIGHT_REQUESTS: '10',
        // A queue long enough that the pool guard stays out of the way: this is the in-flight limit's test.
        DB_POOL_MAX: '2',
        DB_POOL_QUEUE_MAX: '100',
        // Longer than the test: while the database stays frozen, only the readiness check's own bound can
        // end a check.
        DB_CONNECT_TIMEOUT_MS: '60000',
      },
      { cwd: tmpdir() },
    );
  }, 60_000);

  afterAll(async () => {
    await bundle?.stop('SIGKILL');
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackhole?.close(resolve));
  });

  it('sheds the excess, ends the rest at the check’s bound, and liveness answers beside them', async () => {
    const readiness = burst(60, `${bundle.url}/api/health`);
    // Give the burst a moment to fill the process before probing liveness beside it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    // One more readiness check beside the probes: shed, so the ten accepted were still in flight meanwhile.
    const [live, beside] = await Promise.all([
      burst(20, `${bundle.url}/api/health/live`),
      send(`${bundle.url}/api/health`),
    ]);
    const outcomes = await readiness;

    expect(live.map((o) => o.status)).toEqual(Array(20).fill(200));
    expect(detailOf(beside), 'the accepted checks had ended before the probes were answered').toBe(
      'The server is busy; retry shortly.',
    );

    expectProblem503(outcomes);
    const shed = outcomes.filter((o) => detailOf(o) === 'The server is busy; retry shortly.');
    expect(shed.length, JSON.stringify(outcomes.map((o) => [o.status, detailOf(o), Math.round(o.ms)]))).toBe(
      50,
    );
    // The ten accepted were ended by the health check's bound, with the database still frozen and a connect
    // timeout longer than the test: never by waiting for the pool's queue to drain.
    const accepted = outcomes.filter((o) => !shed.includes(o));
    expect(accepted.map(detailOf)).toEqual(Array(10).fill('The database cannot be reached.'));

    const metrics = await (await fetch(`${bundle.url}/api/metrics`)).text();
    expect(metrics).toContain('http_requests_shed_total{function="health",reason="in_flight"} 51');

    report('overload: frozen database, in-flight limit 10 (health bundle)', {
      requests: outcomes.length + live.length,
      statuses: statusCounts([...outcomes, ...live]),
      shed: shed.length,
      shed_p99_ms: Math.round(
        percentile(
          shed.map((o) => o.ms),
          99,
        ),
      ),
      max_ms: Math.round(Math.max(...outcomes.map((o) => o.ms))),
      live_max_ms: Math.round(Math.max(...live.map((o) => o.ms))),
    });
  }, 30_000);
});

describe('a locked table: the bounded pool wait queue', () => {
  let scratch: ScratchDatabase;
  let database: DatabaseHandle;
  let bundle: RunningBundle;
  let token: string;

  beforeAll(async () => {
    // A database of its own: the table lock below must not stall other test files.
    scratch = await createScratchDatabase();
    const config = testConfig({ DATABASE_URL: scratch.url });
    database = testDatabase(config);
    token = (await createTestUser(database.db, config, { superuser: true })).token;
    bundle = await startBundle(
      'users',
      {
        ...common,
        DATABASE_URL: scratch.url,
        MAX_IN_FLIGHT_REQUESTS: '0',
        DB_POOL_MAX: '2',
        DB_POOL_QUEUE_MAX: '4',
        DB_CONNECT_TIMEOUT_MS: '1000',
        DB_STATEMENT_TIMEOUT_MS: '1000',
      },
      { cwd: tmpdir() },
    );
  }, 60_000);

  afterAll(async () => {
    await bundle?.stop('SIGKILL');
    await database?.close();
    await scratch?.drop();
  });

  it('refuses past the queue, times out the rest as 503 while the lock holds, and serves again once it goes', async () => {
    const url = `${bundle.url}/api/users/?limit=1`;
    const init = { headers: { authorization: `Bearer ${token}` } };
    // The user behind the token is cached now, so only the listing itself needs the database below.
    expect((await send(url, init)).status).toBe(200);

    const locker = new pg.Client({ connectionString: scratch.url });
    await locker.connect();
    let outcomes: Outcome[];
    try {
      await locker.query('begin');
      await locker.query('lock table "user" in access exclusive mode');
      outcomes = await burst(30, url, init);
      // Every answer came while the lock was still held: each was ended by the process's own bounds.
      const held = await locker.query(
        `select count(*)::int as n from pg_locks where relation = '"user"'::regclass and mode = 'AccessExclusiveLock' and granted`,
      );
      expect(held.rows[0]?.n).toBe(1);
    } finally {
      await locker.query('rollback');
      await locker.end();
    }

    expectProblem503(outcomes);
    const shed = outcomes.filter((o) => detailOf(o) === 'The server is busy; retry shortly.');
    // 2 hold connections, 4 wait; the other 24 are refused at the queue rather than joining it.
    expect(shed.length).toBeGreaterThanOrEqual(24);
    const shedCount = await (await fetch(`${bundle.url}/metrics`)).text();
    expect(shedCount).toMatch(/http_requests_shed_total\{function="users",reason="db_queue"\} (2[4-9]|30)\n/);
    for (const o of outcomes) expect(JSON.stringify(o.body)).not.toMatch(/statement|cancel|lock|select/i);

    const after = await send(url, init);
    expect(after.status).toBe(200);

    report('overload: locked table, pool 2 + queue 4 (users bundle)', {
      requests: outcomes.length,
      statuses: statusCounts(outcomes),
      shed_at_once: shed.length,
      shed_p99_ms: Math.round(
        percentile(
          shed.map((o) => o.ms),
          99,
        ),
      ),
      max_ms: Math.round(Math.max(...outcomes.map((o) => o.ms))),
    });
  }, 30_000);
});
