import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as items } from '../../functions/items/routes.ts';
import type { Item } from '../../functions/items/service.ts';
import { cacheKeys } from '../../shared/cache/keys.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

let server: TestServer;
let database: DatabaseHandle;
let owner: TestUser;
let other: TestUser;
let superuser: TestUser;

beforeAll(async () => {
  server = await startTestServer([items]);
  database = testDatabase(server.ctx.config);
  [owner, other, superuser] = await Promise.all([
    createTestUser(database.db, server.ctx.config),
    createTestUser(database.db, server.ctx.config),
    createTestUser(database.db, server.ctx.config, { superuser: true }),
  ]);
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

function call(method: string, path: string, as: TestUser | undefined, body?: unknown) {
  const headers: Record<string, string> = { ...(as?.auth ?? {}) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return server.api(path, {
    method,
    headers,
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
}

async function create(as: TestUser, body: Record<string, unknown> = { title: 'an item' }): Promise<Item> {
  const response = await call('POST', '/api/items/', as, body);
  expect(response.status).toBe(201);
  return (await response.json()) as Item;
}

async function problem(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as { detail: string; errors?: { path: string; message: string }[] };
}

const rowCount = async (ownerId: string) =>
  Number(
    (
      await database.db
        .selectFrom('item')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('owner_id', '=', ownerId)
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('create', () => {
  it('answers 201 with the item, owned by the caller, and a Location', async () => {
    const response = await call('POST', '/api/items', owner, { title: 'Milk', description: 'two litres' });
    expect(response.status).toBe(201);
    const item = (await response.json()) as Item;
    expect(item).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      title: 'Milk',
      description: 'two litres',
      owner_id: owner.user.id,
      is_active: true,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      updated_at: item.created_at,
    });
    expect(response.headers.get('location')).toBe(`/api/items/${item.id}`);
    const row = await database.db.selectFrom('item').selectAll().where('id', '=', item.id).executeTakeFirst();
    expect(row).toMatchObject({ title: 'Milk', owner_id: owner.user.id });
  });

  it('takes description as optional and nullable', async () => {
    expect((await create(owner, { title: 't' })).description).toBeNull();
    expect((await create(owner, { title: 't', description: null })).description).toBeNull();
  });

  it('rejects unknown fields, so owner_id cannot be smuggled in, and writes nothing', async () => {
    const before = await rowCount(other.user.id);
    for (const body of [
      { title: 'x', owner_id: other.user.id },
      { title: 'x', id: '6f1c2b8e-3d4a-4c5b-9e6f-7a8b9c0d1e2f' },
      { title: 'x', is_active: false },
    ]) {
      const response = await call('POST', '/api/items/', owner, body);
      const body422 = await problem(response, 422);
      expect(body422.errors).toEqual([
        { path: `body.${Object.keys(body)[1]}`, message: 'is not a known field' },
      ]);
    }
    expect(await rowCount(other.user.id)).toBe(before);
  });

  it('enforces title 1..255 and description up to 255 characters (as PostgreSQL counts them)', async () => {
    const bad = [
      [{}, 'body.title'],
      [[], 'body'],
      ['"text"', 'body'],
      [{ title: '' }, 'body.title'],
      [{ title: 'x'.repeat(256) }, 'body.title'],
      [{ title: 12 }, 'body.title'],
      [{ title: null }, 'body.title'],
      [{ title: 'ok', description: 'x'.repeat(256) }, 'body.description'],
      [{ title: 'nul\u0000byte' }, 'body.title'],
    ] as const;
    const before = await rowCount(owner.user.id);
    for (const [body, path] of bad) {
      const response = await call('POST', '/api/items/', owner, body);
      expect((await problem(response, 422)).errors?.map((e) => e.path)).toEqual([path]);
    }
    expect(await rowCount(owner.user.id)).toBe(before);
    // 255 emoji are 510 UTF-16 units but 255 characters: valid, and stored whole.
    const emoji = '😀'.repeat(255);
    const item = await create(owner, { title: emoji, description: 'é'.repeat(255) });
    expect(item.title).toBe(emoji);
  });

  it('needs a signed-in user', async () => {
    const response = await call('POST', '/api/items/', undefined, { title: 'x' });
    await problem(response, 401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});

describe('ownership: owner, other user and superuser on every route', () => {
  let item: Item;
  beforeAll(async () => {
    item = await create(owner, { title: 'mine' });
  });

  it('GET /api/items/{id}: owner and superuser read it, anyone else gets 404', async () => {
    expect(await (await call('GET', `/api/items/${item.id}`, owner)).json()).toEqual(item);
    expect(await (await call('GET', `/api/items/${item.id}`, superuser)).json()).toEqual(item);
    const hidden = await problem(await call('GET', `/api/items/${item.id}`, other), 404);
    // The same answer as for an id that does not exist: nothing reveals that it does.
    const missing = await problem(
      await call('GET', '/api/items/00000000-0000-4000-8000-000000000000', other),
      404,
    );
    expect(hidden.detail).toBe(missing.detail);
  });

  it('GET /api/items/: each user sees only their own; a superuser sees everyone', async () => {
    const theirs = await create(other, { title: 'theirs' });
    const ownList = (await (await call('GET', '/api/items/?limit=1000', owner)).json()) as { data: Item[] };
    expect(ownList.data.every((i) => i.owner_id === owner.user.id)).toBe(true);
    expect(ownList.data.map((i) => i.id)).toContain(item.id);
    const otherList = (await (await call('GET', '/api/items/?limit=1000', other)).json()) as { data: Item[] };
    expect(otherList.data.map((i) => i.id)).toEqual([theirs.id]);
    const all = (await (await call('GET', '/api/items/?limit=1000', superuser)).json()) as {
      data: Item[];
      count: number;
    };
    expect(all.data.map((i) => i.id)).toEqual(expect.arrayContaining([item.id, theirs.id]));
    const total = await database.db
      .selectFrom('item')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(all.count).toBeGreaterThanOrEqual(ownList.data.length + 1);
    expect(all.count).toBeLessThanOrEqual(Number(total.n));
  });

  it('PUT: anyone else gets 404 and changes nothing; owner and superuser update', async () => {
    await problem(await call('PUT', `/api/items/${item.id}`, other, { title: 'stolen' }), 404);
    const row = await database.db
      .selectFrom('item')
      .selectAll()
      .where('id', '=', item.id)
      .executeTakeFirstOrThrow();
    expect(row.title).toBe('mine');

    const byOwner = await call('PUT', `/api/items/${item.id}`, owner, { title: 'renamed' });
    expect(byOwner.status).toBe(200);
    expect(((await byOwner.json()) as Item).title).toBe('renamed');
    const bySuperuser = await call('PUT', `/api/items/${item.id}`, superuser, { is_active: false });
    expect(bySuperuser.status).toBe(200);
    // A superuser's update leaves the owner as it was.
    expect(await bySuperuser.json()).toMatchObject({
      title: 'renamed',
      is_active: false,
      owner_id: owner.user.id,
    });
  });

  it('DELETE: anyone else gets 404 and deletes nothing; owner and superuser delete (204)', async () => {
    const second = await create(owner, { title: 'second' });
    await problem(await call('DELETE', `/api/items/${item.id}`, other), 404);
    expect(
      await database.db.selectFrom('item').select('id').where('id', '=', item.id).executeTakeFirst(),
    ).toBeDefined();

    const byOwner = await call('DELETE', `/api/items/${item.id}`, owner);
    expect(byOwner.status).toBe(204);
    expect(await byOwner.text()).toBe('');
    const bySuperuser = await call('DELETE', `/api/items/${second.id}`, superuser);
    expect(bySuperuser.status).toBe(204);
    const left = await database.db
      .selectFrom('item')
      .select('id')
      .where('id', 'in', [item.id, second.id])
      .execute();
    expect(left).toEqual([]);
    // Gone for everyone, superuser included, and a second delete is a 404.
    await problem(await call('GET', `/api/items/${item.id}`, superuser), 404);
    await problem(await call('DELETE', `/api/items/${item.id}`, owner), 404);
  });

  it('every route needs a token', async () => {
    for (const [method, path] of [
      ['GET', '/api/items/'],
      ['GET', `/api/items/${item.id}`],
      ['PUT', `/api/items/${item.id}`],
      ['DELETE', `/api/items/${item.id}`],
    ] as const) {
      await problem(await call(method, path, undefined, method === 'PUT' ? { title: 'x' } : undefined), 401);
    }
  });
});

describe('read, update and delete inputs', () => {
  it('answers 422 naming path.item_id for a non-UUID id', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const response = await call(
        method,
        '/api/items/not-a-uuid',
        owner,
        method === 'PUT' ? { title: 'x' } : undefined,
      );
      expect((await problem(response, 422)).errors?.map((e) => e.path)).toEqual(['path.item_id']);
    }
  });

  it('accepts an upper-case UUID as the same item', async () => {
    const item = await create(owner, { title: 'case' });
    const response = await call('GET', `/api/items/${item.id.toUpperCase()}`, owner);
    expect(await response.json()).toEqual(item);
  });

  it('updates only the fields sent, moves updated_at, and rejects unknown or invalid fields', async () => {
    const item = await create(owner, { title: 'before', description: 'keep me' });
    const response = await call('PUT', `/api/items/${item.id}/`, owner, { title: 'after' });
    const updated = (await response.json()) as Item;
    expect(updated).toMatchObject({ id: item.id, title: 'after', description: 'keep me', is_active: true });
    expect(updated.created_at).toBe(item.created_at);
    expect(Date.parse(updated.updated_at)).toBeGreaterThan(Date.parse(item.updated_at));

    const cleared = (await (
      await call('PUT', `/api/items/${item.id}`, owner, { description: null })
    ).json()) as Item;
    expect(cleared).toMatchObject({ title: 'after', description: null });

    for (const body of [{ owner_id: other.user.id }, { title: '' }, { title: null }, { is_active: 'yes' }]) {
      await problem(await call('PUT', `/api/items/${item.id}`, owner, body), 422);
    }
    const row = await database.db
      .selectFrom('item')
      .selectAll()
      .where('id', '=', item.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      title: 'after',
      description: null,
      owner_id: owner.user.id,
      is_active: true,
    });
  });

  it('serves reads through the cache and drops the entry on update and delete', async () => {
    const item = await create(owner, { title: 'cached' });
    await call('GET', `/api/items/${item.id}`, owner);
    expect(await server.ctx.cache.get(cacheKeys.item(item.id))).toEqual(item);

    await call('PUT', `/api/items/${item.id}`, owner, { title: 'fresh' });
    expect(await server.ctx.cache.get(cacheKeys.item(item.id))).toBeUndefined();
    expect(((await (await call('GET', `/api/items/${item.id}`, owner)).json()) as Item).title).toBe('fresh');

    // A cached item is still checked against the caller.
    await problem(await call('GET', `/api/items/${item.id}`, other), 404);

    await call('DELETE', `/api/items/${item.id}`, owner);
    expect(await server.ctx.cache.get(cacheKeys.item(item.id))).toBeUndefined();
    await problem(await call('GET', `/api/items/${item.id}`, owner), 404);
  });
});

describe('pagination', () => {
  let pager: TestUser;
  let created: Item[];
  beforeAll(async () => {
    pager = await createTestUser(database.db, server.ctx.config);
    created = [];
    // One at a time, so created_at is strictly increasing.
    for (let i = 0; i < 5; i++) created.push(await create(pager, { title: `item ${i}` }));
  });

  const list = async (query: string) => {
    const response = await call('GET', `/api/items/${query}`, pager);
    expect(response.status).toBe(200);
    return (await response.json()) as { data: Item[]; count: number; next_cursor: string | null };
  };

  it('lists newest first with the total count', async () => {
    const page = await list('');
    expect(page.count).toBe(5);
    expect(page.data.map((i) => i.title)).toEqual(['item 4', 'item 3', 'item 2', 'item 1', 'item 0']);
  });

  it('pages with skip and limit; count stays the total', async () => {
    expect(await list('?skip=1&limit=2')).toEqual({
      data: [created[3], created[2]],
      count: 5,
      next_cursor: expect.any(String),
    });
    expect((await list('?skip=4&limit=2')).data.map((i) => i.title)).toEqual(['item 0']);
  });

  it('skip beyond the end: empty data, the right count', async () => {
    expect(await list('?skip=5')).toEqual({ data: [], count: 5, next_cursor: null });
    expect(await list('?skip=1000000')).toEqual({ data: [], count: 5, next_cursor: null });
  });

  it('limit=0 is a valid empty page (just the count); limit=1000 is the maximum', async () => {
    expect(await list('?limit=0')).toEqual({ data: [], count: 5, next_cursor: expect.any(String) });
    expect((await list('?limit=1000')).data).toHaveLength(5);
  });

  it('answers 422 for limit over 1000, negative or non-integer values', async () => {
    for (const [query, path] of [
      ['?limit=1001', 'query.limit'],
      ['?limit=-1', 'query.limit'],
      ['?limit=1.5', 'query.limit'],
      ['?limit=abc', 'query.limit'],
      ['?limit=', 'query.limit'],
      ['?skip=-1', 'query.skip'],
      ['?skip=2.0', 'query.skip'],
      ['?skip=99999999999999999999', 'query.skip'],
      ['?skip=1&skip=2', 'query.skip'],
    ]) {
      const response = await call('GET', `/api/items/${query}`, pager);
      expect(
        (await problem(response, 422)).errors?.map((e) => e.path),
        query,
      ).toEqual([path]);
    }
  });
});
