import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  loggedMessages,
  type RunningBundle,
  SHUTDOWN_CUT_SHORT,
  SHUTDOWN_FINISHED,
  startBundle,
} from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// The built items bundle as real processes, sending its events over real HTTP to a receiver that is down
// while the changes are made, and comes up only after the first process has been stopped.

interface Delivery {
  id: string;
  type: string;
  subject: string;
  body: { id: string };
}

let scratch: ScratchDatabase;
let database: DatabaseHandle;
let sinkPort: number;
let receiver: Server | undefined;
const deliveries: Delivery[] = [];
const bundles: RunningBundle[] = [];

async function startItems(): Promise<RunningBundle> {
  const bundle = await startBundle(
    'items',
    {
      DATABASE_URL: scratch.url,
      SECRET_KEY: TEST_SECRET_KEY,
      LOG_LEVEL: 'info',
      K_SINK: `http://127.0.0.1:${sinkPort}/`,
      EVENTS_RETRY_BASE_MS: '100',
      EVENTS_RETRY_MAX_MS: '1000',
    },
    { cwd: tmpdir() },
  );
  bundles.push(bundle);
  return bundle;
}

beforeAll(async () => {
  scratch = await createScratchDatabase();
  database = testDatabase(testConfig({ DATABASE_URL: scratch.url }));
  sinkPort = await freePort();
}, 60_000);

afterAll(async () => {
  await Promise.all(bundles.map((b) => b.stop('SIGKILL')));
  receiver?.close();
  await database?.close();
  await scratch?.drop();
});

function startReceiver(): Promise<void> {
  receiver = createServer((request, response) => {
    let body = '';
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      deliveries.push({
        id: String(request.headers['ce-id']),
        type: String(request.headers['ce-type']),
        subject: String(request.headers['ce-subject']),
        body: JSON.parse(body),
      });
      response.writeHead(202).end();
    });
  });
  receiver.listen(sinkPort, '127.0.0.1');
  return once(receiver, 'listening').then(() => undefined);
}

async function call(bundle: RunningBundle, user: TestUser, method: string, path: string, body?: unknown) {
  const response = await fetch(`${bundle.url}${path}`, {
    method,
    headers: { ...user.auth, ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const json = response.status === 204 ? undefined : await response.json();
  return { status: response.status, body: json as { id: string; count: number } };
}

describe('items bundle', () => {
  let user: TestUser;
  const subjects: string[] = [];
  const expected: string[] = [];

  it('serves items with the sink down, and stops cleanly on SIGTERM with events undelivered', async () => {
    user = await createTestUser(database.db, testConfig({ DATABASE_URL: scratch.url }));
    const first = await startItems();
    const a = await call(first, user, 'POST', '/api/items/', { title: 'a' });
    expect(a.status).toBe(201);
    const b = await call(first, user, 'POST', '/api/items/', { title: 'b' });
    expect((await call(first, user, 'PUT', `/api/items/${a.body.id}`, { title: 'a2' })).status).toBe(200);
    expect((await call(first, user, 'GET', '/api/items/', undefined)).body.count).toBe(2);
    subjects.push(a.body.id, b.body.id);
    expected.push(`created:${a.body.id}`, `created:${b.body.id}`, `updated:${a.body.id}`);

    // Let it fail a few deliveries against the closed port first.
    await new Promise((r) => setTimeout(r, 700));
    expect(await first.stop('SIGTERM')).toBe(0);
    // Its shutdown ran to the end, giving up on the closed port, rather than being cut off by its deadline.
    expect(loggedMessages(first)).toContain(SHUTDOWN_FINISHED);
    expect(loggedMessages(first)).not.toContain(SHUTDOWN_CUT_SHORT);
    const log = first.lines.map((l) => JSON.parse(l) as { message?: string });
    expect(log.some((l) => l.message === 'event delivery failed; will retry')).toBe(true);
    expect(deliveries).toEqual([]);
  }, 30_000);

  it('a new process delivers what the first left, plus its own, exactly once each when the sink comes up', async () => {
    const second = await startItems();
    const c = await call(second, user, 'POST', '/api/items/', { title: 'c' });
    expect((await call(second, user, 'DELETE', `/api/items/${subjects[1]}`)).status).toBe(204);
    expected.push(`created:${c.body.id}`, `deleted:${subjects[1]}`);

    await new Promise((r) => setTimeout(r, 1_000));
    expect(deliveries).toEqual([]);
    await startReceiver();

    const deadline = Date.now() + 20_000;
    while (new Set(deliveries.map((d) => d.id)).size < expected.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    // Time for a duplicate to show up, if there were going to be one.
    await new Promise((r) => setTimeout(r, 1_500));
    // Every change, once, in the order it was made (the outbox is delivered as a queue).
    expect(deliveries.map((d) => `${d.type.replace('com.example.items.', '')}:${d.subject}`)).toEqual(
      expected,
    );
    expect(new Set(deliveries.map((d) => d.id)).size).toBe(deliveries.length);
    for (const delivery of deliveries) expect(delivery.body.id).toBe(delivery.subject);

    const pending = await database.db
      .selectFrom('outbox_event')
      .select('id')
      .where('delivered_at', 'is', null)
      .execute();
    expect(pending).toEqual([]);
    expect(await second.stop('SIGTERM')).toBe(0);
  }, 40_000);
});
