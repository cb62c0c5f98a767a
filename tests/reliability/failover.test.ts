import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';
import {
  ONE_CLIENT_LOAD_ENV,
  type Outcome,
  report,
  runWorkers,
  send,
  sleep,
  statusCounts,
} from '../support/load.ts';
import {
  type ClusterTemplate,
  createClusterTemplate,
  PG_BIN,
  type ReplicatedPair,
  startReplicatedPair,
} from '../support/postgres-cluster.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { type EventSink, startEventSink } from '../support/sink.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { inCI } from '../support/tools.ts';
import { createTestUser, type TestUser } from '../support/users.ts';

// What a failover looks like to the items function: a PostgreSQL primary and its streaming standby, behind a
// TCP proxy that plays the cluster's -rw Service. Under steady creates and reads the primary is killed
// (SIGKILL, every process), the standby promoted and the proxy re-pointed, as CloudNativePG does. Clients may
// see 503s with Retry-After, nothing else; the API serves again soon after the promotion; with synchronous
// replication no create that got a 201 is lost; every committed change's event reaches the sink, under one id.
const WORKERS = 6;
const USERS = 3;
const DETECTION_MS = 1_000;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

interface Created {
  id: string;
  title: string;
}

let template: ClusterTemplate;
beforeAll(async () => {
  if (missing) return;
  template = await createClusterTemplate(async (url) => {
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    await admin.query('create database app');
    await admin.end();
    const database = createDatabase(loadConfig({ DATABASE_URL: url('app'), SECRET_KEY: TEST_SECRET_KEY }));
    await migrateToLatest(database.db);
    await database.close();
  });
}, 120_000);
afterAll(() => template?.destroy());

async function scenario(synchronous: boolean) {
  const mode = synchronous ? 'synchronous' : 'asynchronous';
  const pair: ReplicatedPair = await startReplicatedPair({ synchronous, template });
  cleanup.push(() => pair.destroy());
  const proxy: TcpProxy = await startTcpProxy(pair.primary.port);
  cleanup.push(() => proxy.close());
  const sink: EventSink = await startEventSink();
  cleanup.push(() => sink.close());
  const serviceUrl = `postgresql://postgres@127.0.0.1:${proxy.port}/app`;

  const config = loadConfig({ DATABASE_URL: serviceUrl, SECRET_KEY: TEST_SECRET_KEY });
  const setup = createDatabase(config);
  const users: TestUser[] = [];
  for (let i = 0; i < USERS; i++) users.push(await createTestUser(setup.db, config));
  await setup.close();

  const bundle: RunningBundle = await startBundle(
    'items',
    {
      DATABASE_URL: serviceUrl,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'error',
      DATA_DIR: tmpdir(),
      DB_CONNECT_TIMEOUT_MS: '1000',
      K_SINK: sink.url,
      EVENTS_RETRY_BASE_MS: '20',
      EVENTS_RETRY_MAX_MS: '200',
      ...ONE_CLIENT_LOAD_ENV,
    },
    { cwd: tmpdir() },
  );
  cleanup.push(() => bundle.stop('SIGKILL'));

  const outcomes: (Outcome & { kind: 'create' | 'read' })[] = [];
  const acknowledged: Created[] = [];
  const traffic = new AbortController();
  let promotedAt = Number.POSITIVE_INFINITY;
  const running = runWorkers(
    WORKERS,
    async (worker, i) => {
      const user = users[worker % USERS]!;
      const title = `${mode} w${worker} #${i}`;
      const key = randomUUID();
      // A client retries a refused create with the same Idempotency-Key (sooner than Retry-After asks, to probe).
      for (;;) {
        const created = await send(`${bundle.url}/api/items/`, {
          method: 'POST',
          headers: { ...user.auth, 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify({ title }),
        });
        outcomes.push({ ...created, kind: 'create' });
        if (created.status === 201) {
          acknowledged.push({ id: (created.body as Created).id, title });
          break;
        }
        if (traffic.signal.aborted) return;
        await sleep(100);
      }
      const mine = acknowledged.filter((c) => c.title.startsWith(`${mode} w${worker} `));
      const target = mine[Math.floor(Math.random() * mine.length)]!;
      const read = await send(`${bundle.url}/api/items/${target.id}`, { headers: user.auth });
      outcomes.push({ ...read, kind: 'read' });
      if (read.status === 503) await sleep(100);
    },
    { signal: traffic.signal },
  );

  await sleep(2_000);
  const killedAt = Date.now();
  const beforeKill = acknowledged.length;
  pair.killPrimary();
  // The operator notices the primary is gone, promotes the standby, then moves the Service.
  await sleep(DETECTION_MS);
  await pair.promoteStandby();
  promotedAt = Date.now();
  proxy.repoint(pair.standby.port);
  let servedAgainAt = 0;
  while (Date.now() - promotedAt < 10_000) {
    const ok = outcomes.find((o) => o.at >= promotedAt && o.status >= 200 && o.status < 300);
    if (ok) {
      servedAgainAt = ok.at + ok.ms;
      break;
    }
    await sleep(20);
  }
  await sleep(2_000);
  traffic.abort();
  await running;

  // What clients saw: successes, and 503 problem+json with Retry-After, nothing else.
  expect(bundle.child.exitCode, bundle.stderr().slice(0, 2000)).toBeNull();
  const refused = outcomes.filter((o) => o.status === 503);
  const other = outcomes.filter((o) => ![200, 201, 503].includes(o.status));
  // After an asynchronous failover an acknowledged item may be gone: its read is a 404, counted below.
  const lostReads = other.filter((o) => !synchronous && o.kind === 'read' && o.status === 404);
  expect(
    other
      .filter((o) => !lostReads.includes(o))
      .map((o) => `${o.kind} ${o.status} ${o.error ?? JSON.stringify(o.body)}`),
  ).toEqual([]);
  for (const o of refused) {
    expect(o.problemJson).toBe(true);
    expect(o.retryAfter).toMatch(/^\d+$/);
  }
  // The same process served again through the re-pointed Service (the 10 s wait above only stops a hang;
  // how soon it recovered is printed, not asserted).
  expect(servedAgainAt).toBeGreaterThan(0);
  const recoveryMs = servedAgainAt - promotedAt;

  // What the new primary has.
  const promoted = new pg.Client({ connectionString: pair.standby.url('app') });
  await promoted.connect();
  cleanup.push(() => promoted.end());
  const stored = new Map(
    (await promoted.query<Created>('select id, title from item')).rows.map((r) => [r.id, r.title]),
  );
  const lost = acknowledged.filter((c) => !stored.has(c.id));
  const titles = [...stored.values()];
  const duplicated = titles.length - new Set(titles).size;
  expect(duplicated).toBe(0);
  if (synchronous) expect(lost.map((c) => c.title)).toEqual([]);

  // The outbox drains on the new primary (the relay gives back what the failover interrupted), and each
  // committed change reached the sink under exactly one CloudEvent id.
  let undelivered = -1;
  for (let i = 0; i < 100 && undelivered !== 0; i++) {
    if (i > 0) await sleep(100);
    const { rows } = await promoted.query<{ n: number }>(
      'select count(*)::int as n from outbox_event where delivered_at is null',
    );
    undelivered = rows[0]!.n;
  }
  expect(undelivered).toBe(0);
  const written = (
    await promoted.query<{ id: string; subject: string }>('select id, subject from outbox_event')
  ).rows;
  expect(written).toHaveLength(stored.size);
  const receivedIds = new Set(sink.received.map((e) => e.id));
  const missing = written.filter((e) => !receivedIds.has(e.id));
  expect(missing).toEqual([]);
  const idsPerItem = new Map<string, Set<string>>();
  for (const e of sink.received)
    idsPerItem.set(e.subject, (idsPerItem.get(e.subject) ?? new Set()).add(e.id));
  const twoIdsForOneChange = [...idsPerItem.values()].filter((ids) => ids.size > 1).length;
  expect(twoIdsForOneChange).toBe(0);
  const redelivered = sink.received.length - receivedIds.size;
  if (synchronous) expect(redelivered).toBe(0);

  report(`failover (${mode} replication, items bundle)`, {
    requests: outcomes.length,
    statuses: statusCounts(outcomes),
    acknowledged_creates: acknowledged.length,
    acknowledged_before_kill: beforeKill,
    lost_acknowledged_creates: lost.length,
    reads_of_lost_items_404: lostReads.length,
    duplicated_items: duplicated,
    detection_ms: DETECTION_MS,
    promotion_ms: promotedAt - killedAt - DETECTION_MS,
    serving_again_ms_after_promotion: recoveryMs,
    events_committed: written.length,
    events_missing: missing.length,
    events_redelivered_same_id: redelivered,
    events_for_lost_changes: sink.received.filter((e) => !stored.has(e.subject)).length,
  });
}

// Without Debian's PostgreSQL 15 server binaries (a laptop) this is skipped; CI installs them and fails without.
const missing = !inCI && !existsSync(join(PG_BIN, 'pg_basebackup'));

describe.skipIf(missing)('primary killed under load, standby promoted, Service re-pointed', () => {
  it('synchronous replication: only 503s with Retry-After, serving again after the promotion, no acknowledged create lost, each event once', async () => {
    await scenario(true);
  }, 60_000);

  it('asynchronous replication (CNPG default): the same, and how many acknowledged creates were lost', async () => {
    await scenario(false);
  }, 60_000);
});
