import { delay, HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { definition as items } from '../../functions/items/routes.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { renderMetrics } from '../../shared/telemetry/metrics.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// The sink is HTTP we do not own: msw stands in for it, inside this process, where the relay's fetch runs.
const SINK = 'http://sink.test/events';

interface Received {
  headers: Record<string, string>;
  body: Record<string, unknown>;
  accepted: boolean;
}

let received: Received[] = [];

function headersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
let hanging = 0;
/** How the sink answers the next request: accept, fail with 503, or never answer. */
let answer: () => 'accept' | 'fail' | 'hang' = () => 'accept';

const sink = setupServer(
  http.post(SINK, async ({ request }) => {
    const mode = answer();
    if (mode === 'hang') {
      hanging += 1;
      await delay('infinite');
    }
    received.push({
      headers: headersOf(request.headers),
      body: (await request.json()) as Record<string, unknown>,
      accepted: mode === 'accept',
    });
    return mode === 'accept'
      ? new HttpResponse(null, { status: 202 })
      : new HttpResponse('busy', { status: 503 });
  }),
);

let scratch: ScratchDatabase;
let database: DatabaseHandle;
const servers: TestServer[] = [];

const sinkEnv = {
  LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
  K_SINK: SINK,
  EVENTS_RETRY_BASE_MS: '20',
  EVENTS_RETRY_MAX_MS: '200',
};

async function start(env: Record<string, string | undefined> = sinkEnv): Promise<TestServer> {
  const server = await startTestServer([items], { DATABASE_URL: scratch.url, ...env });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  sink.listen({ onUnhandledRequest: 'bypass' });
  scratch = await createScratchDatabase();
  database = testDatabase((await start({})).ctx.config);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  received = [];
  answer = () => 'accept';
});
afterAll(async () => {
  sink.close();
  await database?.close();
  await scratch?.drop();
});

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting; the sink saw ${received.length} requests`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function send(server: TestServer, as: TestUser, method: string, path: string, body?: unknown) {
  return server.api(path, {
    method,
    headers: { ...as.auth, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

async function createItem(server: TestServer, as: TestUser, title: string) {
  const response = await send(server, as, 'POST', '/api/items/', { title });
  expect(response.status).toBe(201);
  return (await response.json()) as Record<string, unknown> & { id: string };
}

const accepted = () => received.filter((r) => r.accepted);
const undelivered = async () =>
  database.db
    .selectFrom('outbox_event')
    .select(['id', 'attempts'])
    .where('delivered_at', 'is', null)
    .execute();

/** Every accepted ce-id, and how many times the sink accepted it. */
function acceptedCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of accepted()) counts.set(r.headers['ce-id']!, (counts.get(r.headers['ce-id']!) ?? 0) + 1);
  return counts;
}

async function metric(line: string): Promise<number> {
  const found = (await renderMetrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ').pop()) : 0;
}

describe('item events', () => {
  it('publishes a CloudEvent (binary mode) after each change, with the item as data', async () => {
    const server = await start();
    const user = await createTestUser(database.db, server.ctx.config);
    const publishedBefore = await metric(
      'events_published_total{function="items",type="com.example.items.updated"}',
    );

    const created = await createItem(server, user, 'evented');
    const updated = await (
      await send(server, user, 'PUT', `/api/items/${created.id}`, { title: 'changed' })
    ).json();
    expect((await send(server, user, 'DELETE', `/api/items/${created.id}`)).status).toBe(204);
    await waitFor(() => accepted().length === 3);

    expect(accepted().map((r) => r.headers['ce-type'])).toEqual([
      'com.example.items.created',
      'com.example.items.updated',
      'com.example.items.deleted',
    ]);
    for (const { headers } of accepted()) {
      expect(headers).toMatchObject({
        'ce-specversion': '1.0',
        'ce-id': expect.stringMatching(/^[0-9a-f-]{36}$/),
        'ce-source': '/api/items',
        'ce-subject': created.id,
        'content-type': 'application/json',
      });
      expect(new Date(headers['ce-time']!).toISOString()).toBe(headers['ce-time']);
    }
    expect(new Set(accepted().map((r) => r.headers['ce-id'])).size).toBe(3);
    expect(accepted().map((r) => r.body)).toEqual([created, updated, updated]);

    await waitFor(async () => (await undelivered()).length === 0);
    expect(await metric('events_published_total{function="items",type="com.example.items.updated"}')).toBe(
      publishedBefore + 1,
    );
    await server.ctx.close();
    expect(await metric('events_outbox_pending{function="items"}')).toBe(0);
  });

  it('a request that fails writes no event; reads write none', async () => {
    const server = await start();
    const [owner, stranger] = await Promise.all([
      createTestUser(database.db, server.ctx.config),
      createTestUser(database.db, server.ctx.config),
    ]);
    const item = await createItem(server, owner, 'only one event');
    expect((await send(server, stranger, 'PUT', `/api/items/${item.id}`, { title: 'no' })).status).toBe(404);
    expect((await send(server, stranger, 'DELETE', `/api/items/${item.id}`)).status).toBe(404);
    expect((await send(server, owner, 'GET', `/api/items/${item.id}`)).status).toBe(200);
    const rows = await database.db
      .selectFrom('outbox_event')
      .select('type')
      .where('subject', '=', item.id)
      .execute();
    expect(rows.map((r) => r.type)).toEqual(['com.example.items.created']);
  });

  it('a sink failing for a while: requests still succeed and every event arrives exactly once after', async () => {
    const server = await start();
    const user = await createTestUser(database.db, server.ctx.config);
    const failuresBefore = await metric('events_delivery_attempts_total{function="items",result="failure"}');
    let calls = 0;
    answer = () => (++calls <= 8 ? 'fail' : 'accept');

    const created = await Promise.all(
      Array.from({ length: 5 }, (_, i) => createItem(server, user, `during outage ${i}`)),
    );
    await send(server, user, 'PUT', `/api/items/${created[0]!.id}`, { is_active: false });
    await waitFor(() => accepted().length >= 6);
    // Give any duplicate the time it would need to show up.
    await new Promise((r) => setTimeout(r, 500));

    expect(received.filter((r) => !r.accepted).length).toBe(8);
    const counts = acceptedCounts();
    expect(counts.size).toBe(6);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(new Set(accepted().map((r) => r.headers['ce-subject']))).toEqual(
      new Set(created.map((c) => c.id)),
    );
    // A retry is the same event: the ids the sink refused are among those it later accepted.
    for (const refused of received.filter((r) => !r.accepted))
      expect(counts.has(refused.headers['ce-id']!)).toBe(true);
    expect(await metric('events_delivery_attempts_total{function="items",result="failure"}')).toBe(
      failuresBefore + 8,
    );
    expect(await undelivered()).toEqual([]);
    // Delivered in the order they were written, the outage notwithstanding.
    const written = await database.db.selectFrom('outbox_event').select('id').orderBy('seq').execute();
    expect(accepted().map((r) => r.headers['ce-id'])).toEqual(
      written.map((w) => w.id).filter((id) => counts.has(id)),
    );
  });

  it('a hanging sink never slows a request, shutdown stays bounded, and the next instance delivers', async () => {
    answer = () => 'hang';
    const first = await start();
    const user = await createTestUser(database.db, first.ctx.config);
    // The sink never answers: were delivery on the request's path, this would wait for ever (the test's
    // timeout would end it), so an answer at all shows it is not.
    const item = await createItem(first, user, 'left behind');
    // The relay is now stuck on the sink: shutdown has a send in flight to give up on.
    await waitFor(() => hanging === 1);

    // Stopping gives up on that send (the sink still holds it) rather than waiting for it for ever.
    await first.stop();
    servers.splice(servers.indexOf(first), 1);
    const left = await undelivered();
    expect(left).toHaveLength(1);

    // A new instance delivers what the stopped one left, with no request needed to wake it.
    answer = () => 'accept';
    await start();
    await waitFor(() => accepted().length === 1);
    expect(accepted()[0]!.headers['ce-id']).toBe(left[0]!.id);
    expect(accepted()[0]!.headers['ce-subject']).toBe(item.id);
    await waitFor(async () => (await undelivered()).length === 0);
  });

  it('two instances on one outbox never send an event twice', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const user = await createTestUser(database.db, a.ctx.config);
    await Promise.all(Array.from({ length: 40 }, (_, i) => createItem(i % 2 ? a : b, user, `shared ${i}`)));
    await waitFor(() => accepted().length >= 40);
    await new Promise((r) => setTimeout(r, 300));
    const counts = acceptedCounts();
    expect(counts.size).toBe(40);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(received).toHaveLength(40);
  });

  it('without K_SINK no event is written at all', async () => {
    const server = await start({});
    const user = await createTestUser(database.db, server.ctx.config);
    const before = await database.db
      .selectFrom('outbox_event')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    const item = await createItem(server, user, 'quiet');
    await send(server, user, 'PUT', `/api/items/${item.id}`, { title: 'still quiet' });
    await send(server, user, 'DELETE', `/api/items/${item.id}`);
    const after = await database.db
      .selectFrom('outbox_event')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    expect(received).toEqual([]);
  });
});
