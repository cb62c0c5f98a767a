import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as items } from '../../functions/items/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import type { BatchOptions } from '../../shared/db/batched-delete.ts';
import { housekeeping, type Purge } from '../../shared/db/housekeeping.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { mailPurges } from '../../shared/mail/housekeeping.ts';
import { mailer } from '../../shared/mail/index.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { startTestServer, type TestServer, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  addEvents,
  addIdempotencyKeys,
  addMails,
  addSessions,
  addTokens,
  labelCounts,
  type PurgedTable,
} from '../support/expiring-rows.ts';
import { createTestUser } from '../support/users.ts';

// Each function purges the expiring rows of its tables on a schedule of its own, as deployed: no SMTP server
// (so no mail relay), no event sink, outside development (so no local inbox either). The database is this
// file's own, so the table counts below are this file's rows only.
let scratch: ScratchDatabase;
let database: DatabaseHandle;
let userId: string;
let server: TestServer | undefined;

/** The environment of the cluster as deployed today: neither SMTP_HOST nor K_SINK. */
const deployedEnv = () => ({
  DATABASE_URL: scratch.url,
  ENVIRONMENT: 'staging',
  SMTP_HOST: undefined,
  K_SINK: undefined,
});

beforeAll(async () => {
  scratch = await createScratchDatabase();
  database = createDatabase(testConfig({ DATABASE_URL: scratch.url }));
  userId = (await createTestUser(database.db, testConfig({ DATABASE_URL: scratch.url }))).user.id;
}, 60_000);

afterAll(async () => {
  await database?.close();
  await scratch?.drop();
});

beforeEach(async () => {
  for (const table of ['email_token', 'outbox_mail', 'outbox_event', 'idempotency_key', 'session'])
    await sql`delete from ${sql.table(table)}`.execute(database.db);
});

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** Rows of every purged table, old and young; what each table keeps once purged. */
const KEPT: Record<PurgedTable, Record<string, number>> = {
  email_token: { 'expired-1h-ago': 2, open: 1 },
  outbox_mail: { 'sent-1h-ago': 2, unsent: 1 },
  outbox_event: { 'sent-1h-ago': 2, unsent: 1 },
  idempotency_key: { 'used-1h-ago': 2 },
  session: { ended: 1, open: 2 },
};
const SEEDED: Record<PurgedTable, Record<string, number>> = {
  email_token: { 'expired-30h-ago': 3, 'spent-30h-ago': 2, ...KEPT.email_token },
  outbox_mail: { 'sent-30h-ago': 4, ...KEPT.outbox_mail },
  outbox_event: { 'sent-30h-ago': 4, ...KEPT.outbox_event },
  idempotency_key: { 'used-30h-ago': 5, ...KEPT.idempotency_key },
  session: { expired: 3, ...KEPT.session },
};

async function addEveryKindOfRow() {
  const db = database.db;
  await addTokens(db, userId, 3, 'expired-30h-ago', -30, null);
  await addTokens(db, userId, 2, 'spent-30h-ago', 10, -30);
  await addTokens(db, userId, 2, 'expired-1h-ago', -1, null);
  await addTokens(db, userId, 1, 'open', 1, null);
  await addMails(db, 4, 'sent-30h-ago', -30);
  await addMails(db, 2, 'sent-1h-ago', -1);
  await addMails(db, 1, 'unsent', null);
  await addEvents(db, 4, 'sent-30h-ago', -30);
  await addEvents(db, 2, 'sent-1h-ago', -1);
  await addEvents(db, 1, 'unsent', null);
  await addIdempotencyKeys(db, userId, 5, 'used-30h-ago', -30);
  await addIdempotencyKeys(db, userId, 2, 'used-1h-ago', -1);
  await addSessions(db, userId, 3, 'expired', -1, null);
  await addSessions(db, userId, 1, 'ended', 100, -1);
  await addSessions(db, userId, 2, 'open', 100, null);
}

async function everyTable(): Promise<Record<PurgedTable, Record<string, number>>> {
  const tables = Object.keys(SEEDED) as PurgedTable[];
  const counts = await Promise.all(tables.map((table) => labelCounts(database.db, table)));
  return Object.fromEntries(tables.map((table, i) => [table, counts[i]])) as Record<
    PurgedTable,
    Record<string, number>
  >;
}

describe('each function, deployed without SMTP_HOST or K_SINK', () => {
  it.each([
    { fn: auth, owns: ['outbox_mail', 'email_token', 'session'] },
    { fn: users, owns: ['outbox_mail', 'email_token'] },
    { fn: items, owns: ['idempotency_key', 'outbox_event'] },
  ] as { fn: FunctionDefinition; owns: PurgedTable[] }[])(
    '$fn.name purges its tables after its first answer, and only what is past its retention',
    async ({ fn, owns }) => {
      await addEveryKindOfRow();
      server = await startTestServer([fn], deployedEnv());
      // No relay runs: what goes, the housekeeping took.
      expect(mailer(server.ctx).relay).toBeUndefined();
      await (await fetch(`${server.url}/api/nowhere`)).arrayBuffer();
      const expected = { ...SEEDED };
      for (const table of owns) expected[table] = KEPT[table];
      await expect.poll(everyTable, { timeout: 15_000 }).toEqual(expected);
    },
  );
});

describe('the housekeeping schedule', () => {
  it('purges again every interval, logs a failing purge and runs the others, and stops on close', async () => {
    const signals: AbortSignal[] = [];
    const watcher: Purge = {
      name: 'watcher',
      run: async (_db, options: BatchOptions) => {
        if (options.signal) signals.push(options.signal);
        return 0;
      },
    };
    // A real failure, from the database: the purges after it still run, pass after pass.
    const broken: Purge = {
      name: 'broken',
      run: async (db) => Number((await sql`delete from no_such_table`.execute(db)).numAffectedRows),
    };
    const lines: { message: string; purge?: string; purged?: Record<string, number> }[] = [];
    const log = createLogger('test', 'info', { write: (line: string) => lines.push(JSON.parse(line)) });
    const purger: FunctionDefinition = {
      name: 'purger',
      prefixes: ['/api/purger'],
      routes: [],
      setup: (app, ctx) => housekeeping(app, ctx, [broken, ...mailPurges, watcher], { everyMs: 50 }),
    };
    await addMails(database.db, 3, 'sent-30h-ago', -30);
    server = await startTestServer([purger], deployedEnv(), { log });
    await expect.poll(() => labelCounts(database.db, 'outbox_mail'), { timeout: 15_000 }).toEqual({});
    // Logged once the pass is over.
    await expect
      .poll(() => lines)
      .toContainEqual(
        expect.objectContaining({ message: 'purged expired rows', purged: { outbox_mail: 3 } }),
      );
    expect(lines).toContainEqual(expect.objectContaining({ message: 'purge failed', purge: 'broken' }));

    // Rows that age past their retention later go on a later pass.
    await addMails(database.db, 2, 'sent-30h-ago', -30);
    await addTokens(database.db, userId, 2, 'expired-30h-ago', -30, null);
    await expect.poll(() => labelCounts(database.db, 'outbox_mail'), { timeout: 15_000 }).toEqual({});
    await expect.poll(() => labelCounts(database.db, 'email_token'), { timeout: 15_000 }).toEqual({});
    expect(new Set(signals).size).toBe(1);
    expect(signals.length).toBeGreaterThan(1);

    await server.stop();
    server = undefined;
    expect(signals[0]?.aborted).toBe(true);
  });
});
