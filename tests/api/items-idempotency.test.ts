import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as items } from '../../functions/items/routes.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

let server: TestServer;
let database: DatabaseHandle;

beforeAll(async () => {
  // A pool as large as the burst below, so the concurrency tests really overlap in the database.
  server = await startTestServer([items], { DB_POOL_MAX: '20' });
  database = testDatabase(server.ctx.config);
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

const newUser = () => createTestUser(database.db, server.ctx.config);

function post(as: TestUser, body: unknown, key?: string) {
  return server.api('/api/items/', {
    method: 'POST',
    headers: {
      ...as.auth,
      'content-type': 'application/json',
      ...(key !== undefined && { 'idempotency-key': key }),
    },
    body: JSON.stringify(body),
  });
}

interface Item {
  id: string;
  owner_id: string;
}
const json = async (response: Response) => (await response.json()) as Item;

const itemsOf = (user: TestUser) =>
  database.db.selectFrom('item').selectAll().where('owner_id', '=', user.user.id).execute();

describe('Idempotency-Key on POST /api/items/', () => {
  it('drops keys older than 24 h in the background', async () => {
    const user = await newUser();
    await database.db
      .insertInto('idempotency_key')
      .values({
        user_id: user.user.id,
        key: 'ancient',
        request_hash: 'f'.repeat(64),
        created_at: sql`now() - interval '25 hours'`,
      })
      .execute();
    // The first keyed request of a process sweeps expired keys, after answering.
    expect((await post(user, { title: 'x' }, randomUUID())).status).toBe(201);
    let left: unknown[] = [{}];
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      left = await database.db
        .selectFrom('idempotency_key')
        .select('key')
        .where('key', '=', 'ancient')
        .execute();
    }
    expect(left).toEqual([]);
  });

  it('same key and body: the first response again, one row', async () => {
    const user = await newUser();
    const key = randomUUID();
    const first = await post(user, { title: 'once', description: 'd' }, key);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const firstBody = await first.text();

    const again = await post(user, { description: 'd', title: 'once' }, key);
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(await again.text()).toBe(firstBody);
    expect(await itemsOf(user)).toHaveLength(1);
  });

  it('replays the original response even after the item changed', async () => {
    const user = await newUser();
    const key = randomUUID();
    const first = await json(await post(user, { title: 'v1' }, key));
    await server.api(`/api/items/${first.id}`, {
      method: 'PUT',
      headers: { ...user.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'v2' }),
    });
    expect(await json(await post(user, { title: 'v1' }, key))).toEqual(first);
  });

  it('same key with another body: 422 naming the header, nothing created', async () => {
    const user = await newUser();
    const key = randomUUID();
    expect((await post(user, { title: 'first' }, key)).status).toBe(201);
    const response = await post(user, { title: 'second' }, key);
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = (await response.json()) as { errors: { path: string }[] };
    expect(body.errors.map((e) => e.path)).toEqual(['header.idempotency-key']);
    expect((await itemsOf(user)).map((i) => i.title)).toEqual(['first']);
  });

  it('a missing description and a null one are the same body', async () => {
    const user = await newUser();
    const key = randomUUID();
    const first = await json(await post(user, { title: 't' }, key));
    const again = await post(user, { title: 't', description: null }, key);
    expect(again.status).toBe(201);
    expect(await again.json()).toEqual(first);
  });

  it('keys are per user', async () => {
    const [alice, bob] = await Promise.all([newUser(), newUser()]);
    const key = randomUUID();
    const a = await json(await post(alice, { title: 'same' }, key));
    const b = await json(await post(bob, { title: 'same' }, key));
    expect(a.id).not.toBe(b.id);
    expect(b.owner_id).toBe(bob.user.id);
    expect(await itemsOf(alice)).toHaveLength(1);
    expect(await itemsOf(bob)).toHaveLength(1);
  });

  it('a request that failed does not use up its key', async () => {
    const user = await newUser();
    const key = randomUUID();
    expect((await post(user, { title: '' }, key)).status).toBe(422);
    expect((await post(user, { title: 'now valid' }, key)).status).toBe(201);
    expect(await itemsOf(user)).toHaveLength(1);
  });

  it('a key older than 24 h is free again', async () => {
    const user = await newUser();
    const key = randomUUID();
    const first = await json(await post(user, { title: 'old' }, key));
    await database.db
      .updateTable('idempotency_key')
      .set({ created_at: sql`now() - interval '25 hours'` })
      .where('user_id', '=', user.user.id)
      .execute();
    const second = await post(user, { title: 'old' }, key);
    expect(second.status).toBe(201);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect((await json(second)).id).not.toBe(first.id);
    expect(await itemsOf(user)).toHaveLength(2);
  });

  it('rejects an empty or over-long key with 422, creating nothing', async () => {
    const user = await newUser();
    for (const key of ['x'.repeat(256), '']) {
      const response = await post(user, { title: 'x' }, key);
      expect(response.status).toBe(422);
      const body = (await response.json()) as { errors: { path: string }[] };
      expect(body.errors.map((e) => e.path)).toEqual(['header.idempotency-key']);
    }
    expect(await itemsOf(user)).toHaveLength(0);
  });

  it('concurrent requests with one key: one row, identical responses', async () => {
    const user = await newUser();
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => post(user, { title: 'raced' }, key)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(201));
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(new Set(bodies).size).toBe(1);
    expect(responses.filter((r) => r.headers.get('idempotent-replayed') === null)).toHaveLength(1);
    expect(await itemsOf(user)).toHaveLength(1);
  });

  it('the same race with different bodies: one wins, the rest are 422', async () => {
    const user = await newUser();
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => post(user, { title: `body ${i}` }, key)),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 422, 422, 422, 422, 422]);
    expect(await itemsOf(user)).toHaveLength(1);
  });
});

describe('concurrency without a key', () => {
  it('100 concurrent creates make exactly 100 rows', async () => {
    const user = await newUser();
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => post(user, { title: `n${i}` })),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: string }).id));
    expect(new Set(ids).size).toBe(100);
    const rows = await itemsOf(user);
    expect(rows).toHaveLength(100);
    expect(new Set(rows.map((r) => r.title)).size).toBe(100);
    const listed = await (await server.api('/api/items/?limit=0', { headers: user.auth })).json();
    expect(listed).toMatchObject({ data: [], count: 100 });
  });
});
