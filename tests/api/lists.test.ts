import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as items } from '../../functions/items/routes.ts';
import type { Item } from '../../functions/items/service.ts';
import { definition as users } from '../../functions/users/routes.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { createTestUser, type TestUser } from '../support/users.ts';

// The cursor rules of CONTRACT.md on the items and users lists, on a database of this file's own: whole-table
// counts and a superuser's walk must not see other test files' rows.
let scratch: ScratchDatabase;
let server: TestServer;
let database: DatabaseHandle;
let owner: TestUser;
let other: TestUser;
let superuser: TestUser;

interface Page<T> {
  data: T[];
  count: number;
  next_cursor: string | null;
}

beforeAll(async () => {
  scratch = await createScratchDatabase();
  server = await startTestServer([items, users], { DATABASE_URL: scratch.url });
  database = createDatabase(server.ctx.config);
  [owner, other, superuser] = await Promise.all([
    createTestUser(database.db, server.ctx.config),
    createTestUser(database.db, server.ctx.config),
    createTestUser(database.db, server.ctx.config, { superuser: true }),
  ]);
});
afterAll(async () => {
  await server.stop();
  await database.close();
  await scratch.drop();
});

async function page<T = Item>(path: string, as: TestUser): Promise<Page<T>> {
  const response = await server.api(path, { headers: as.auth });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Page<T>;
}

async function problem(path: string, as: TestUser) {
  const response = await server.api(path, { headers: as.auth });
  expect(response.status).toBe(422);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as { detail: string; errors: { path: string; message: string }[] };
}

/** Follows next_cursor from the first page to the end; `between` runs after each page. */
async function walk(list: string, as: TestUser, limit: number, between?: (step: number) => Promise<void>) {
  const join = list.includes('?') ? '&' : '?';
  const seen: Item[] = [];
  let cursor: string | null = null;
  for (let step = 0; step < 1000; step++) {
    const url: string = cursor
      ? `${list}${join}limit=${limit}&cursor=${cursor}`
      : `${list}${join}limit=${limit}`;
    const result: Page<Item> = await page(url, as);
    seen.push(...result.data);
    cursor = result.next_cursor;
    if (!cursor) return seen;
    expect(result.data).toHaveLength(limit);
    await between?.(step);
  }
  throw new Error('the walk did not end');
}

/** Items of `as` written straight by SQL, every `sameTime` of them sharing one created_at. */
async function insertBySql(as: TestUser, count: number, title: string, sameTime = 1) {
  await sql`
    insert into item (title, owner_id, created_at, updated_at)
    select ${title} || ' ' || g, ${as.user.id}::uuid, t, t
    from generate_series(1, ${count}::int) g,
      lateral (select timestamptz '2026-01-01' + ((g - 1) / ${sameTime}::int) * interval '1 second' as t) time`.execute(
    database.db,
  );
}

const newestFirst = (a: Item, b: Item) =>
  b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id);

describe('walking a list by cursor', () => {
  let tied: TestUser;
  beforeAll(async () => {
    tied = await createTestUser(database.db, server.ctx.config);
    // 40 items in 8 instants: every page boundary falls inside a tie on created_at.
    await insertBySql(tied, 40, 'tied', 5);
  });

  it('returns every row once, in (created_at desc, id desc) order, ties included', async () => {
    const all = await page('/api/items/?limit=1000', tied);
    expect(all.count).toBe(40);
    expect(all.next_cursor).toBeNull();
    expect(all.data.map((i) => i.id)).toEqual([...all.data].sort(newestFirst).map((i) => i.id));
    for (const limit of [1, 3, 7]) {
      const seen = await walk('/api/items/', tied, limit);
      expect(seen.map((i) => i.id)).toEqual(all.data.map((i) => i.id));
    }
  });

  it('skip pages are the same window of the same order, and carry the cursor that continues them', async () => {
    const all = (await page('/api/items/?limit=1000', tied)).data.map((i) => i.id);
    const skipped = await page('/api/items/?skip=4&limit=6', tied);
    expect(skipped.data.map((i) => i.id)).toEqual(all.slice(4, 10));
    expect(skipped.count).toBe(40);
    const next = await page(`/api/items/?limit=6&cursor=${skipped.next_cursor}`, tied);
    expect(next.data.map((i) => i.id)).toEqual(all.slice(10, 16));
    // limit=0 only counts; its cursor continues from where the page would have started.
    const empty = await page('/api/items/?skip=4&limit=0', tied);
    expect(empty).toEqual({ data: [], count: 40, next_cursor: expect.any(String) });
    const fromThere = await page(`/api/items/?limit=3&cursor=${empty.next_cursor}`, tied);
    expect(fromThere.data.map((i) => i.id)).toEqual(all.slice(4, 7));
    // The last page, by skip or by cursor, says so.
    expect((await page('/api/items/?skip=35&limit=5', tied)).next_cursor).toBeNull();
    expect((await page('/api/items/?skip=40', tied)).next_cursor).toBeNull();
  });

  it('returns every row that existed when it began exactly once, whatever is inserted meanwhile', async () => {
    const walker = await createTestUser(database.db, server.ctx.config);
    await insertBySql(walker, 30, 'before', 3);
    const before = (await page('/api/items/?limit=1000', walker)).data.map((i) => i.id);
    const seen = await walk('/api/items/', walker, 4, async (step) => {
      // New items through the API (newest), and by SQL with old and tied times among those still ahead.
      await server.api('/api/items/', {
        method: 'POST',
        headers: { ...walker.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ title: `during ${step}` }),
      });
      await insertBySql(walker, 1, `old ${step}`);
    });
    const ids = seen.map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of before) expect(ids).toContain(id);
    expect(seen.filter((i) => i.title.startsWith('during'))).toEqual([]);
    expect(seen).toEqual([...seen].sort(newestFirst));
  });

  it('returns every remaining row exactly once when rows are deleted meanwhile', async () => {
    const walker = await createTestUser(database.db, server.ctx.config);
    await insertBySql(walker, 30, 'kept', 2);
    const before = (await page('/api/items/?limit=1000', walker)).data.map((i) => i.id);
    const deleted = new Set<string>();
    const seen = await walk('/api/items/', walker, 4, async () => {
      // The oldest row left, which the walk has not reached yet.
      const ahead = before.filter((id) => !deleted.has(id)).at(-1);
      if (ahead) {
        deleted.add(ahead);
        await database.db.deleteFrom('item').where('id', '=', ahead).execute();
      }
    });
    expect(deleted.size).toBeGreaterThan(3);
    expect(seen.map((i) => i.id)).toEqual(before.filter((id) => !deleted.has(id)));
  });

  it('keeps walking after the row its cursor points after is deleted', async () => {
    const walker = await createTestUser(database.db, server.ctx.config);
    await insertBySql(walker, 6, 'gone', 2);
    const all = (await page('/api/items/?limit=1000', walker)).data.map((i) => i.id);
    const first = await page('/api/items/?limit=3', walker);
    await database.db.deleteFrom('item').where('id', '=', all[2]!).execute();
    const rest = await page(`/api/items/?limit=3&cursor=${first.next_cursor}`, walker);
    expect(rest.data.map((i) => i.id)).toEqual(all.slice(3));
    expect(rest.next_cursor).toBeNull();
  });
});

describe('a cursor is bound to its list, caller and filters', () => {
  let cursor: string;
  beforeAll(async () => {
    await insertBySql(owner, 5, 'mine');
    cursor = (await page('/api/items/?limit=2', owner)).next_cursor!;
    expect(cursor).toEqual(expect.any(String));
  });

  const refused = async (path: string, as: TestUser) => {
    const body = await problem(path, as);
    expect(body.errors.map((e) => e.path)).toEqual(['query.cursor']);
  };

  it('refuses a forged or damaged cursor with a 422 naming query.cursor', async () => {
    const flipped = `${cursor.slice(0, 20)}${cursor[20] === 'A' ? 'B' : 'A'}${cursor.slice(21)}`;
    for (const forged of [
      flipped,
      cursor.slice(0, -2),
      `${cursor}AA`,
      'AAAA',
      'not-a-cursor',
      'x'.repeat(2000),
    ]) {
      await refused(`/api/items/?cursor=${forged}`, owner);
    }
    await refused('/api/items/?cursor=%00', owner);
    await refused('/api/items/?cursor=', owner);
  });

  it("refuses another user's cursor, and shows none of their rows", async () => {
    await refused(`/api/items/?cursor=${cursor}`, other);
    await refused(`/api/items/?cursor=${cursor}`, superuser);
    const all = (await page('/api/items/?limit=2', superuser)).next_cursor!;
    await refused(`/api/items/?cursor=${all}`, owner);
  });

  it("refuses another list's cursor, or the same cursor with other filters", async () => {
    const usersCursor = (await page('/api/users/?limit=1', superuser)).next_cursor!;
    await refused(`/api/items/?cursor=${usersCursor}`, superuser);
    await refused(`/api/items/?cursor=${cursor}&q=mine`, owner);
    await refused(`/api/items/?cursor=${cursor}&is_active=true`, owner);
    const filtered = (await page('/api/items/?limit=1&q=mine', owner)).next_cursor!;
    await refused(`/api/items/?cursor=${filtered}`, owner);
    await refused(`/api/items/?cursor=${filtered}&q=MINE`, owner);
    expect((await page(`/api/items/?cursor=${filtered}&q=mine`, owner)).data).toHaveLength(4);
  });

  it('refuses skip together with a cursor', async () => {
    const body = await problem(`/api/items/?skip=1&cursor=${cursor}`, owner);
    expect(body.errors.map((e) => e.path)).toEqual(['query.skip']);
  });
});

describe('counts', () => {
  const countQuery = () => database.db.selectFrom('item').select((eb) => eb.fn.countAll<string>().as('n'));

  it('stay exact for rows written, changed and deleted by SQL directly', async () => {
    const counter = await createTestUser(database.db, server.ctx.config);
    const counts = async () => ({
      own: (await page('/api/items/?limit=0', counter)).count,
      ownActive: (await page('/api/items/?limit=0&is_active=true', counter)).count,
      ownInactive: (await page('/api/items/?limit=0&is_active=false', counter)).count,
      all: (await page('/api/items/?limit=0', superuser)).count,
      allInactive: (await page('/api/items/?limit=0&is_active=false', superuser)).count,
      users: (await page('/api/users/?limit=0', superuser)).count,
    });
    const truth = async () => {
      const n = async (query: ReturnType<typeof countQuery>) =>
        Number((await query.executeTakeFirstOrThrow()).n);
      return {
        own: await n(countQuery().where('owner_id', '=', counter.user.id)),
        ownActive: await n(
          countQuery().where('owner_id', '=', counter.user.id).where('is_active', '=', true),
        ),
        ownInactive: await n(
          countQuery().where('owner_id', '=', counter.user.id).where('is_active', '=', false),
        ),
        all: await n(countQuery()),
        allInactive: await n(countQuery().where('is_active', '=', false)),
        users: Number(
          (
            await database.db
              .selectFrom('user')
              .select((eb) => eb.fn.countAll<string>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        ),
      };
    };
    await insertBySql(counter, 25, 'direct');
    expect(await counts()).toEqual(await truth());
    expect((await counts()).own).toBe(25);

    await sql`update item set is_active = false where owner_id = ${counter.user.id} and title like 'direct 1%'`.execute(
      database.db,
    );
    expect(await counts()).toEqual(await truth());
    expect((await counts()).ownInactive).toBe(11);

    await sql`update item set owner_id = ${other.user.id} where owner_id = ${counter.user.id} and title like 'direct 2%'`.execute(
      database.db,
    );
    await sql`delete from item where owner_id = ${counter.user.id} and title like 'direct 1_'`.execute(
      database.db,
    );
    expect(await counts()).toEqual(await truth());

    // A user deleted with their items, and one added by SQL.
    const leaving = await createTestUser(database.db, server.ctx.config);
    await insertBySql(leaving, 7, 'leaving');
    await sql`delete from "user" where id = ${leaving.user.id}`.execute(database.db);
    await sql`insert into "user" (email, hashed_password) values ('by-sql@example.com', 'x')`.execute(
      database.db,
    );
    expect(await counts()).toEqual(await truth());
  });

  it('count only the matches of a filter, and walk them by cursor', async () => {
    const searcher = await createTestUser(database.db, server.ctx.config);
    await insertBySql(searcher, 12, 'Apple pie');
    await insertBySql(searcher, 5, 'pear');
    await insertBySql(searcher, 2, '50% off_sale');
    await sql`update item set is_active = false where owner_id = ${searcher.user.id} and title in ('Apple pie 1', 'Apple pie 2', 'pear 1')`.execute(
      database.db,
    );
    const titles = (p: Page<Item>) => p.data.map((i) => i.title).sort();

    const apples = await page('/api/items/?q=APPLE&limit=1000', searcher);
    expect(apples.count).toBe(12);
    expect(apples.data.every((i) => i.title.startsWith('Apple pie'))).toBe(true);
    expect((await page('/api/items/?q=apple&is_active=false', searcher)).count).toBe(2);
    expect((await page('/api/items/?q=apple&is_active=true', searcher)).count).toBe(10);
    expect((await page('/api/items/?is_active=false', searcher)).count).toBe(3);
    // LIKE's wildcards in q are plain characters.
    expect(titles(await page('/api/items/?q=50%25', searcher))).toEqual(['50% off_sale 1', '50% off_sale 2']);
    expect((await page('/api/items/?q=%25', searcher)).count).toBe(2);
    expect((await page('/api/items/?q=f_s', searcher)).count).toBe(2);
    expect((await page('/api/items/?q=p_e', searcher)).count).toBe(0);
    // Another user's items never match.
    expect((await page('/api/items/?q=apple', other)).count).toBe(0);

    const seen = await walk('/api/items/?q=pie&is_active=true', searcher, 3);
    expect(seen.map((i) => i.id)).toEqual(apples.data.filter((i) => i.is_active).map((i) => i.id));
  });

  it('422 for a bad filter', async () => {
    for (const [query, path] of [
      ['q=', 'query.q'],
      [`q=${'x'.repeat(256)}`, 'query.q'],
      ['q=a%00b', 'query.q'],
      ['is_active=yes', 'query.is_active'],
      ['is_active=1', 'query.is_active'],
    ]) {
      const body = await problem(`/api/items/?${query}`, owner);
      expect(
        body.errors.map((e) => e.path),
        query,
      ).toEqual([path]);
    }
  });
});

describe('the users list', () => {
  it('walks every user once by cursor, with the count from the counters', async () => {
    for (let i = 0; i < 4; i++) await createTestUser(database.db, server.ctx.config);
    const all = await page<{ id: string }>('/api/users/?limit=1000', superuser);
    const total = Number(
      (
        await database.db
          .selectFrom('user')
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(all.count).toBe(total);
    expect(all.data).toHaveLength(total);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const next: Page<{ id: string }> = await page(
        `/api/users/?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        superuser,
      );
      seen.push(...next.data.map((u) => u.id));
      cursor = next.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.data.map((u) => u.id));
  });
});
