import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  ONE_CLIENT_LOAD_ENV,
  type Outcome,
  percentile,
  report,
  runWorkers,
  send,
  statusCounts,
} from '../support/load.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// 50 users each creating, reading, updating and deleting their items in parallel against two instances of
// the items bundle on one database. Each client keeps its own record of what the API told it; afterwards the
// database must hold exactly that: nothing lost, nothing duplicated, every title as last acknowledged.
// `npm test` runs a short version; `npm run test:soak` sets SOAK_SECONDS (30 s or more).
const USERS = 50;
const SECONDS = Number(process.env.SOAK_SECONDS ?? 6);

let scratch: ScratchDatabase;
let database: DatabaseHandle;
const bundles: RunningBundle[] = [];
let users: TestUser[];

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = testDatabase(config);
  users = await Promise.all(Array.from({ length: USERS }, () => createTestUser(database.db, config)));
  const env = {
    DATABASE_URL: scratch.url,
    SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'warn',
    DATA_DIR: tmpdir(),
    DB_POOL_MAX: '10',
    ...ONE_CLIENT_LOAD_ENV,
  };
  bundles.push(
    ...(await Promise.all([
      startBundle('items', env, { cwd: tmpdir() }),
      startBundle('items', env, { cwd: tmpdir() }),
    ])),
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(bundles.map((b) => b.stop('SIGKILL')));
  await database?.close();
  await scratch?.drop();
});

interface Item {
  id: string;
  title: string;
  owner_id: string;
}

describe(`${USERS} users × create/read/update/delete for ${SECONDS} s`, () => {
  it(
    'zero 5xx, and the database holds exactly what the clients were told',
    async () => {
      const outcomes: Outcome[] = [];
      const unexpected: string[] = [];
      /** Per user: item id → the title the API last acknowledged. */
      const models = users.map(() => new Map<string, string>());

      const call = async (worker: number, method: string, path: string, body?: unknown, headers = {}) => {
        const base = bundles[(worker + outcomes.length) % bundles.length]!.url;
        const outcome = await send(`${base}${path}`, {
          method,
          headers: {
            ...users[worker]!.auth,
            ...headers,
            ...(body !== undefined && { 'content-type': 'application/json' }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        outcomes.push(outcome);
        return outcome;
      };
      const expectStatus = (o: Outcome, status: number, what: string) => {
        if (o.status !== status) unexpected.push(`${what}: ${o.status} ${o.error ?? JSON.stringify(o.body)}`);
        return o.status === status;
      };

      await runWorkers(
        USERS,
        async (worker, i) => {
          const model = models[worker]!;
          const title = `u${worker} #${i} ${randomUUID().slice(0, 8)}`;
          // Create, retrying a failed connection with the same Idempotency-Key so a retry cannot duplicate.
          const key = randomUUID();
          let created = await call(worker, 'POST', '/api/items/', { title }, { 'idempotency-key': key });
          if (created.status === 0)
            created = await call(worker, 'POST', '/api/items/', { title }, { 'idempotency-key': key });
          if (!expectStatus(created, 201, 'create')) return;
          const item = created.body as Item;
          model.set(item.id, title);

          const read = await call(worker, 'GET', `/api/items/${item.id}`);
          if (expectStatus(read, 200, 'read') && (read.body as Item).title !== title)
            unexpected.push(`read: title ${(read.body as Item).title} !== ${title}`);

          const renamed = `${title} (edited)`;
          const updated = await call(worker, 'PUT', `/api/items/${item.id}`, { title: renamed });
          if (expectStatus(updated, 200, 'update')) model.set(item.id, renamed);

          // Delete every other item, and an older one now and then, so lists keep changing under readers.
          if (i % 2 === 1) {
            const victim = i % 4 === 1 ? item.id : [...model.keys()][0]!;
            const deleted = await call(worker, 'DELETE', `/api/items/${victim}`);
            if (expectStatus(deleted, 204, 'delete')) model.delete(victim);
          }
          if (i % 5 === 0) {
            const list = await call(worker, 'GET', '/api/items/?limit=1000');
            if (expectStatus(list, 200, 'list') && (list.body as { count: number }).count !== model.size)
              unexpected.push(`list: count ${(list.body as { count: number }).count} !== ${model.size}`);
          }
        },
        { durationMs: SECONDS * 1_000 },
      );

      const serverErrors = outcomes.filter((o) => o.status >= 500 || o.status === 0);
      expect(serverErrors.map((o) => `${o.status} ${o.error ?? JSON.stringify(o.body)}`)).toEqual([]);
      expect(unexpected).toEqual([]);

      const rows = await database.db.selectFrom('item').select(['id', 'title', 'owner_id']).execute();
      let lost = 0;
      let extra = 0;
      let wrongTitle = 0;
      for (const [index, user] of users.entries()) {
        const model = models[index]!;
        const stored = new Map(rows.filter((r) => r.owner_id === user.user.id).map((r) => [r.id, r.title]));
        for (const [id, title] of model) {
          if (!stored.has(id)) lost += 1;
          else if (stored.get(id) !== title) wrongTitle += 1;
        }
        for (const id of stored.keys()) if (!model.has(id)) extra += 1;
      }
      expect({ lost, extra, wrongTitle }).toEqual({ lost: 0, extra: 0, wrongTitle: 0 });
      expect(rows.length).toBe(models.reduce((n, m) => n + m.size, 0));
      expect(outcomes.length).toBeGreaterThan(USERS * 4);

      report(`concurrency: ${USERS} users × CRUD for ${SECONDS} s (2 items bundles)`, {
        requests: outcomes.length,
        statuses: statusCounts(outcomes),
        items_kept: rows.length,
        lost_writes: lost,
        duplicates: extra,
        stale_titles: wrongTitle,
        p50_ms: Math.round(
          percentile(
            outcomes.map((o) => o.ms),
            50,
          ),
        ),
        p99_ms: Math.round(
          percentile(
            outcomes.map((o) => o.ms),
            99,
          ),
        ),
      });
    },
    60_000 + SECONDS * 2_000,
  );
});
