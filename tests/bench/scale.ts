// The scale section of `npm run bench` (issue 21): the same list and item requests against a small and a large
// items table, each through the real items function, as the ratio of the large figure to the small one. Both
// tables live in databases of their own, bulk-loaded with SQL, and the two sizes are measured in alternation, so
// the drift of a busy machine falls on both alike.
import http from 'node:http';
import { join } from 'node:path';
import { Migrator } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations/index.ts';
import { hashPassword } from '../../shared/auth/passwords.ts';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { sealCursor } from '../../shared/http/cursor.ts';
import { median, quantile, request, type Server, startServer } from './measure.ts';

/** What one scale run measured (RESULTS.md shows it; see report.ts). */
export interface ScaleResults {
  sizes: { small: number; large: number };
  samples: number;
  /** Seconds to bulk-load each size, and to apply migration 0004 (counters and indexes) on it afterwards. */
  loadSeconds: { small: { load: number; migrate: number }; large: { load: number; migrate: number } };
  /** Per request kind: the medians and p95s at each size, and the ratio of the large median to the small. */
  requests: Record<
    string,
    { small: number; large: number; smallP95: number; largeP95: number; ratio: number }
  >;
  /** Each count the API answered, with count(*) of the same rows, before and after rows written by SQL. */
  counts: { what: string; size: 'small' | 'large'; api: number; actual: number }[];
  /** The filtered page's search term and how many items it matched at each size. */
  filter: { q: string; small: number; large: number };
}

export const SCALE_KINDS = {
  'owner-first': "owner's first page",
  'superuser-first': "superuser's first page",
  'deep-cursor': "owner's last page, by cursor",
  filtered: 'filtered page (`q`)',
  'item-by-id': 'one item by id',
} as const;
type Kind = keyof typeof SCALE_KINDS;

const PAGE = 20;
/** Items per bulk INSERT: each statement's trigger sums its rows' counts once. */
const CHUNK = 250_000;
const OTHER_USERS = 1000;
/** Three hex digits appear in about 0.7 % of md5 strings: a search that matches a small share of titles. */
const SEARCH = 'c0f';

const log = (line: string) => process.stdout.write(`${line}\n`);

interface Sized {
  size: number;
  url: string;
  drop(): Promise<void>;
  items?: Server;
  owner: string;
  ownerToken: string;
  superToken: string;
  deepCursor: string;
  itemIds: string[];
}

async function admin(serverUrl: string, statement: string) {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function scratchDatabase(serverUrl: string, name: string) {
  await admin(serverUrl, `create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(serverUrl, `drop database if exists "${name}" with (force)`),
  };
}

/** The last migration before the lists' counters and indexes: the data is loaded there, as a live table would be. */
const BEFORE_LIST_COUNTS = '0003_outbox_trace_context';

/**
 * Users and items with SQL, before migration 0004, which then builds its counters and indexes on them (as on a
 * live table): half of the items belong to one owner, the rest to 1000 others; every fourth item is inactive;
 * titles carry an md5 so that a search matches a small share; created_at goes back one second per 1-2 items
 * (ties included).
 */
async function bulkLoad(
  url: string,
  size: number,
  password: string,
): Promise<{ load: number; migrate: number }> {
  const started = performance.now();
  const handle = createDatabase(loadConfig({ DATABASE_URL: url, SECRET_KEY: 'x'.repeat(32) }));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const migrated = await new Migrator({
      db: handle.db,
      provider: { getMigrations: async () => migrations },
    }).migrateTo(BEFORE_LIST_COUNTS);
    if (migrated.error) throw migrated.error;
    const hash = await hashPassword(password, 4);
    await client.query(
      `insert into "user" (email, hashed_password, is_superuser) values
         ('owner@example.com', $1, false), ('root@example.com', $1, true)`,
      [hash],
    );
    await client.query(
      `insert into "user" (email, hashed_password)
       select 'user-' || g || '@example.com', 'x' from generate_series(1, ${OTHER_USERS}) g`,
    );
    for (let from = 1; from <= size; from += CHUNK) {
      const to = Math.min(size, from + CHUNK - 1);
      await client.query(
        `with owners as (select array_agg(id order by email) as ids from "user" where not is_superuser)
         insert into item (title, description, owner_id, is_active, created_at, updated_at)
         select 'Item ' || g || ' ' || md5(g::text), 'x', ids[case when g % 2 = 0 then 1 else 2 + g % ${OTHER_USERS} end],
           g % 4 <> 0, t, t
         from owners, generate_series(${from}, ${to}) g,
           lateral (select timestamptz '2026-01-01' + (g * 2 / 3) * interval '1 second' as t) time`,
      );
      if (size > CHUNK) log(`scale: ${size} items, loaded ${to}`);
    }
    const loaded = performance.now();
    await migrateToLatest(handle.db);
    await client.query('vacuum analyze item');
    await client.query('vacuum analyze "user"');
    return { load: (loaded - started) / 1000, migrate: (performance.now() - loaded) / 1000 };
  } finally {
    await client.end();
    await handle.close();
  }
}

/** A cursor after the owner's `back`-th item from the end, sealed as the items function seals its own. */
async function cursorNearTheEnd(sized: Sized, secret: string, back: number): Promise<string> {
  const client = new pg.Client({ connectionString: sized.url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select (extract(epoch from created_at) * 1000000)::bigint::text as at, id from item where owner_id = $1
       order by created_at, id offset $2 limit 1`,
      [sized.owner, back],
    );
    return sealCursor(secret, { list: 'items', caller: `own:${sized.owner}` }, [rows[0].at, rows[0].id]);
  } finally {
    await client.end();
  }
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

async function get(port: number, path: string, token: string) {
  const reply = await request(port, path, { headers: { authorization: `Bearer ${token}` }, agent });
  if (reply.status !== 200) throw new Error(`GET ${path} answered ${reply.status}: ${reply.body}`);
  return JSON.parse(reply.body) as { count: number; next_cursor: string | null; id?: string };
}

async function login(port: number, email: string, password: string): Promise<string> {
  const reply = await request(port, '/api/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: email, password }).toString(),
  });
  if (reply.status !== 200) throw new Error(`login answered ${reply.status}: ${reply.body}`);
  return (JSON.parse(reply.body) as { access_token: string }).access_token;
}

function pathOf(kind: Kind, sized: Sized, round: number): { path: string; token: string } {
  switch (kind) {
    case 'owner-first':
      return { path: `/api/items/?limit=${PAGE}`, token: sized.ownerToken };
    case 'superuser-first':
      return { path: `/api/items/?limit=${PAGE}`, token: sized.superToken };
    case 'deep-cursor':
      return { path: `/api/items/?limit=${PAGE}&cursor=${sized.deepCursor}`, token: sized.ownerToken };
    case 'filtered':
      return { path: `/api/items/?limit=${PAGE}&q=${SEARCH}`, token: sized.ownerToken };
    case 'item-by-id':
      // A different item each time: the function's cache would otherwise answer.
      return {
        path: `/api/items/${sized.itemIds[round % sized.itemIds.length]}`,
        token: sized.ownerToken,
      };
  }
}

async function countsOf(sized: Sized, which: 'small' | 'large', label: string) {
  const client = new pg.Client({ connectionString: sized.url });
  await client.connect();
  try {
    const actual = async (where: string) =>
      Number((await client.query(`select count(*) as n from item ${where}`)).rows[0].n);
    const port = sized.items!.port;
    const owner = `where owner_id = '${sized.owner}'`;
    return [
      {
        what: `owner's items${label}`,
        api: (await get(port, '/api/items/?limit=0', sized.ownerToken)).count,
        actual: await actual(owner),
      },
      {
        what: `owner's inactive items${label}`,
        api: (await get(port, '/api/items/?limit=0&is_active=false', sized.ownerToken)).count,
        actual: await actual(`${owner} and not is_active`),
      },
      {
        what: `every item${label}`,
        api: (await get(port, '/api/items/?limit=0', sized.superToken)).count,
        actual: await actual(''),
      },
    ].map((c) => ({ ...c, size: which }));
  } finally {
    await client.end();
  }
}

export async function runScale(options: {
  serverUrl: string;
  root: string;
  env: Record<string, string>;
  quick: boolean;
}): Promise<ScaleResults> {
  const large = Number(process.env.BENCH_SCALE_ITEMS ?? (options.quick ? 300_000 : 3_000_000));
  const small = Number(process.env.BENCH_SCALE_SMALL_ITEMS ?? 10_000);
  const samples = options.quick ? 10 : 30;
  const password = `scale-${Date.now()}`;
  const stamp = `${Date.now()}_${process.pid}`;
  const sizes: Record<'small' | 'large', Sized> = {
    small: {
      size: small,
      ...(await scratchDatabase(options.serverUrl, `bench_scale_small_${stamp}`)),
    } as Sized,
    large: {
      size: large,
      ...(await scratchDatabase(options.serverUrl, `bench_scale_large_${stamp}`)),
    } as Sized,
  };
  const servers: Server[] = [];
  try {
    const loadSeconds = {
      small: await bulkLoad(sizes.small.url, small, password),
      large: await bulkLoad(sizes.large.url, large, password),
    };
    log(
      `scale: ${small} items loaded in ${loadSeconds.small.load.toFixed(0)} s and migrated in ${loadSeconds.small.migrate.toFixed(0)} s, ${large} in ${loadSeconds.large.load.toFixed(0)} s and ${loadSeconds.large.migrate.toFixed(0)} s`,
    );

    const filter = { q: SEARCH, small: 0, large: 0 };
    for (const which of ['small', 'large'] as const) {
      const sized = sizes[which];
      const env = { ...options.env, DATABASE_URL: sized.url, BCRYPT_COST: '4' };
      const auth = await startServer(
        [join(options.root, 'dist/functions/auth/index.mjs')],
        env,
        '/api/auth/jwks.json',
      );
      servers.push(auth);
      sized.ownerToken = await login(auth.port, 'owner@example.com', password);
      sized.superToken = await login(auth.port, 'root@example.com', password);
      sized.items = await startServer(
        [join(options.root, 'dist/functions/items/index.mjs')],
        env,
        '/api/items/',
      );
      servers.push(sized.items);
      const client = new pg.Client({ connectionString: sized.url });
      await client.connect();
      sized.owner = (
        await client.query(`select id from "user" where email = 'owner@example.com'`)
      ).rows[0].id;
      sized.itemIds = (
        await client.query(`select id from item where owner_id = $1 order by random() limit ${samples * 2}`, [
          sized.owner,
        ])
      ).rows.map((r: { id: string }) => r.id);
      await client.end();
      // Deep in the owner's list; reached by skip, the page before it would walk a million rows (OFFSET).
      sized.deepCursor = await cursorNearTheEnd(sized, options.env.SECRET_KEY!, 2 * PAGE);
      filter[which] = (
        await get(sized.items.port, `/api/items/?limit=0&q=${SEARCH}`, sized.ownerToken)
      ).count;
    }

    const kinds = Object.keys(SCALE_KINDS) as Kind[];
    const times = new Map<string, number[]>();
    for (let round = -3; round < samples; round++) {
      for (const kind of kinds) {
        for (const which of round % 2 === 0 ? (['small', 'large'] as const) : (['large', 'small'] as const)) {
          const sized = sizes[which];
          const { path, token } = pathOf(kind, sized, round + 3);
          const started = performance.now();
          await get(sized.items!.port, path, token);
          const ms = performance.now() - started;
          if (round < 0) continue; // warm-up: connections, caches, plans
          const key = `${kind}:${which}`;
          times.set(key, [...(times.get(key) ?? []), ms]);
        }
      }
    }
    const requests = Object.fromEntries(
      kinds.map((kind) => {
        const at = (which: string) => times.get(`${kind}:${which}`)!;
        return [
          kind,
          {
            small: median(at('small')),
            large: median(at('large')),
            smallP95: quantile(at('small'), 0.95),
            largeP95: quantile(at('large'), 0.95),
            ratio: median(at('large')) / median(at('small')),
          },
        ];
      }),
    );

    const counts = [];
    for (const which of ['small', 'large'] as const)
      counts.push(...(await countsOf(sizes[which], which, '')));
    // Rows written by SQL directly (an import, a fix by hand): the counts must follow without the API.
    for (const which of ['small', 'large'] as const) {
      const sized = sizes[which];
      const client = new pg.Client({ connectionString: sized.url });
      await client.connect();
      await client.query(
        `insert into item (title, owner_id, is_active) select 'imported ' || g, $1, g % 3 <> 0
         from generate_series(1, 1000) g`,
        [sized.owner],
      );
      await client.query(
        `delete from item where id in (select id from item where owner_id <> $1 limit 100)`,
        [sized.owner],
      );
      await client.end();
      counts.push(...(await countsOf(sized, which, ' after SQL writes')));
    }
    return { sizes: { small, large }, samples, loadSeconds, requests, counts, filter };
  } finally {
    agent.destroy();
    for (const server of servers) await server.stop();
    for (const sized of Object.values(sizes)) await sized.drop();
  }
}
