import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { eventPublisher } from '../../shared/events/index.ts';
import { startTestServer, TEST_SECRET_KEY, type TestServer } from '../support/app.ts';
import { report, send } from '../support/load.ts';
import { PGBOUNCER, type RunningPgBouncer, startPgBouncer } from '../support/pgbouncer.ts';
import { type EventSink, startEventSink } from '../support/sink.ts';
import { inCI } from '../support/tools.ts';

// The functions reach PostgreSQL through CloudNativePG's PgBouncer Pooler in transaction mode. Here a real
// PgBouncer runs with the Pooler's settings in front of the run's PostgreSQL, and everything goes through it:
// migrations, the main journeys, concurrent idempotent creates, the outbox relay, the statement timeout, and a
// pooler that is full.

const suffix = randomBytes(5).toString('hex');
/** A login of its own, as the cluster's `app` role: the statement timeout is set on it, as in production. */
const ROLE = `fs_app_${suffix}`;
const PASSWORD = `pw-${suffix}`;
const DATABASE = `pgbouncer_${suffix}`;
/** Short, so the locked request below is answered soon; production's is 10 s (postgres_statement_timeout). */
const ROLE_STATEMENT_TIMEOUT = '1s';
/** What the client asks for at start-up, which PgBouncer drops (ignore_startup_parameters). */
const CLIENT_STATEMENT_TIMEOUT_MS = 600_000;

let serverUrl: URL;
let pooler: RunningPgBouncer;
let fullPooler: RunningPgBouncer;
let app: TestServer;
let sink: EventSink;

async function admin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl.toString() });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

const appEnv = (url: string) => ({
  DATABASE_URL: url,
  DB_STATEMENT_TIMEOUT_MS: String(CLIENT_STATEMENT_TIMEOUT_MS),
  K_SINK: sink.url,
  EVENTS_RETRY_BASE_MS: '20',
  EVENTS_RETRY_MAX_MS: '200',
});

/** Signs a new user up and logs in through `api`; the headers of an authenticated JSON request. */
async function newUser(api: TestServer['api'], email = `pgbouncer-${randomUUID()}@example.com`) {
  const signUp = await api('/api/users/', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'a-good-password', full_name: 'Pooled' }),
  });
  expect(signUp.status).toBe(201);
  const login = await api('/api/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: email, password: 'a-good-password' }),
  });
  expect(login.status).toBe(200);
  const { access_token } = (await login.json()) as { access_token: string };
  return { email, headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' } };
}

// Without Debian's pgbouncer (a laptop) this is skipped; CI installs it and fails without.
const missing = !inCI && !existsSync(PGBOUNCER);

beforeAll(async () => {
  if (missing) return;
  serverUrl = new URL(inject('databaseUrl'));
  await admin(async (client) => {
    await client.query(`create role "${ROLE}" login password '${PASSWORD}'`);
    await client.query(`alter role "${ROLE}" set statement_timeout = '${ROLE_STATEMENT_TIMEOUT}'`);
    await client.query(`create database "${DATABASE}" owner "${ROLE}"`);
  });
  const server = { host: serverUrl.hostname, port: Number(serverUrl.port || 5432) };
  // The Pooler's defaults (terraform/variables.tf), and a second pooler with room for only a few clients.
  pooler = await startPgBouncer(server, { [ROLE]: PASSWORD }, { maxClientConn: 1000, defaultPoolSize: 20 });
  fullPooler = await startPgBouncer(server, { [ROLE]: PASSWORD }, { maxClientConn: 3, defaultPoolSize: 20 });
  sink = await startEventSink();
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await sink?.close();
  await pooler?.stop();
  await fullPooler?.stop();
  if (serverUrl) {
    await admin(async (client) => {
      await client.query(`drop database if exists "${DATABASE}" with (force)`);
      await client.query(`drop role if exists "${ROLE}"`);
    });
  }
});

describe.skipIf(missing)('through PgBouncer in transaction mode (the Pooler settings)', () => {
  it('runs the migrations', async () => {
    const database = createDatabase(
      loadConfig({ DATABASE_URL: pooler.url(ROLE, DATABASE), SECRET_KEY: TEST_SECRET_KEY }),
    );
    try {
      const applied = await migrateToLatest(database.db);
      expect(applied.length).toBeGreaterThan(0);
      // A second run finds nothing to do: the migration lock and table work across pooled connections.
      expect(await migrateToLatest(database.db)).toEqual([]);
    } finally {
      await database.close();
    }
    app = await startTestServer(allFunctions, appEnv(pooler.url(ROLE, DATABASE)));
  });

  it('serves the main journeys: sign up, log in, profile, items from create to delete', async () => {
    const { email, headers } = await newUser(app.api);
    const { authorization } = headers;
    const auth = { authorization };
    const json = { 'content-type': 'application/json' };

    const me = await app.api('/api/users/me', { headers: auth });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { email: string }).email).toBe(email);

    const created = await app.api('/api/items/', {
      method: 'POST',
      headers: { ...auth, ...json },
      body: JSON.stringify({ title: 'pooled item' }),
    });
    expect(created.status).toBe(201);
    const item = (await created.json()) as { id: string };
    const updated = await app.api(`/api/items/${item.id}`, {
      method: 'PUT',
      headers: { ...auth, ...json },
      body: JSON.stringify({ title: 'renamed' }),
    });
    expect(updated.status).toBe(200);
    const list = await app.api('/api/items/', { headers: auth });
    expect(list.status).toBe(200);
    expect(((await list.json()) as { data: { title: string }[] }).data.map((i) => i.title)).toEqual([
      'renamed',
    ]);
    expect((await app.api(`/api/items/${item.id}`, { method: 'DELETE', headers: auth })).status).toBe(204);
    expect((await app.api(`/api/items/${item.id}`, { headers: auth })).status).toBe(404);
    expect((await app.api('/api/health')).status).toBe(200);
  });

  it('creates one item for 20 concurrent requests with one Idempotency-Key, and 50 for 50 without', async () => {
    const { headers } = await newUser(app.api);
    const key = randomUUID();
    const raced = await Promise.all(
      Array.from({ length: 20 }, () =>
        app.api('/api/items/', {
          method: 'POST',
          headers: { ...headers, 'idempotency-key': key },
          body: JSON.stringify({ title: 'raced through the pooler' }),
        }),
      ),
    );
    expect(raced.map((r) => r.status)).toEqual(Array(20).fill(201));
    const ids = await Promise.all(raced.map(async (r) => ((await r.json()) as { id: string }).id));
    expect(new Set(ids).size).toBe(1);
    const plain = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        app.api('/api/items/', { method: 'POST', headers, body: JSON.stringify({ title: `plain ${i}` }) }),
      ),
    );
    expect(plain.map((r) => r.status)).toEqual(Array(50).fill(201));
    const list = await app.api('/api/items/?limit=100', { headers });
    expect(((await list.json()) as { count: number }).count).toBe(51);
  });

  it('delivers every outbox event once, by CloudEvent id', async () => {
    const relay = eventPublisher(app.ctx).relay;
    expect(relay).toBeDefined();
    const database = createDatabase(
      loadConfig({ DATABASE_URL: pooler.url(ROLE, DATABASE), SECRET_KEY: TEST_SECRET_KEY }),
    );
    try {
      let left = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 200 && left > 0; i++) {
        relay?.wake();
        await relay?.idle();
        const row = await database.db
          .selectFrom('outbox_event')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .where('delivered_at', 'is', null)
          .executeTakeFirstOrThrow();
        left = Number(row.n);
        if (left > 0) await new Promise((r) => setTimeout(r, 25));
      }
      expect(left).toBe(0);
      const written = await database.db.selectFrom('outbox_event').select(['id', 'subject']).execute();
      const ids = sink.received.map((e) => e.id);
      // The journey's create, update and delete, the raced create once, and the 50 plain creates.
      expect(written).toHaveLength(54);
      expect([...ids].sort()).toEqual(written.map((e) => e.id).sort());
    } finally {
      await database.close();
    }
  });

  it('enforces the statement timeout set on the role, since PgBouncer drops the one the client sends', async () => {
    // What a pooled session really has: the role's setting, not the client's start-up parameter.
    const client = new pg.Client({
      connectionString: pooler.url(ROLE, DATABASE),
      statement_timeout: CLIENT_STATEMENT_TIMEOUT_MS,
    });
    await client.connect();
    try {
      const { rows } = await client.query<{ statement_timeout: string }>('show statement_timeout');
      expect(rows[0]?.statement_timeout).toBe(ROLE_STATEMENT_TIMEOUT);
    } finally {
      await client.end();
    }

    // A request stuck behind a lock is ended by the role's timeout with a 503 while the lock is still held
    // (the app's own DB_STATEMENT_TIMEOUT_MS is ten minutes and never reaches the server).
    const { email } = await newUser(app.api);
    const database = new URL(serverUrl);
    database.pathname = `/${DATABASE}`;
    const locker = new pg.Client({ connectionString: database.toString() });
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table "user" in access exclusive mode');
      const blocked = await send(`${app.url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: email, password: 'a-good-password' }),
      });
      const stillLocked = await locker.query(
        `select count(*)::int as n from pg_locks where relation = '"user"'::regclass and mode = 'AccessExclusiveLock' and granted`,
      );
      expect(stillLocked.rows[0]?.n).toBe(1);
      expect(blocked.status).toBe(503);
      expect(blocked.problemJson).toBe(true);
      expect(blocked.retryAfter).toMatch(/^\d+$/);
      report('PgBouncer statement timeout (role setting)', {
        role_statement_timeout: ROLE_STATEMENT_TIMEOUT,
        client_statement_timeout_ms_dropped: CLIENT_STATEMENT_TIMEOUT_MS,
        locked_request: blocked.status,
        answered_after_ms: Math.round(blocked.ms),
      });
    } finally {
      await locker.query('rollback');
      await locker.end();
    }
  });

  it('answers 503 with Retry-After when max_client_conn is reached (refused, not timed out), and serves again once there is room', async () => {
    // Past the test's own timeout: a 503 that arrives at all was PgBouncer's refusal, not the connect timeout.
    const connectTimeoutMs = 60_000;
    const { email, headers } = await newUser(app.api);
    const full = await startTestServer(allFunctions, {
      ...appEnv(fullPooler.url(ROLE, DATABASE)),
      DB_CONNECT_TIMEOUT_MS: String(connectTimeoutMs),
    });
    // Other clients take every place PgBouncer has.
    const others = Array.from(
      { length: 3 },
      () => new pg.Client({ connectionString: fullPooler.url(ROLE, DATABASE) }),
    );
    try {
      await Promise.all(others.map((c) => c.connect()));
      const refused = await Promise.all([
        ...Array.from({ length: 4 }, () => send(`${full.url}/api/items/`, { headers })),
        send(`${full.url}/api/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: email, password: 'a-good-password' }),
        }),
      ]);
      for (const o of refused) {
        expect(o.status, JSON.stringify(o.body)).toBe(503);
        expect(o.problemJson).toBe(true);
        expect(o.retryAfter).toMatch(/^\d+$/);
        expect(JSON.stringify(o.body)).not.toMatch(/max_client_conn|pgbouncer|08P01/i);
      }
      report('PgBouncer max_client_conn reached', {
        statuses: refused.map((o) => o.status),
        max_ms: Math.round(Math.max(...refused.map((o) => o.ms))),
      });
    } finally {
      await Promise.all(others.map((c) => c.end()));
    }
    expect((await send(`${full.url}/api/items/`, { headers })).status).toBe(200);
    await full.stop();
  });
});
