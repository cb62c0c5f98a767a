import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { purgeExpiredIdempotencyKeys } from '../../functions/items/repository.ts';
import { purgeExpiredSessions } from '../../shared/auth/session-store.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { addIdempotencyKeys, addSessions, labelCounts, refreshTokensOf } from '../support/expiring-rows.ts';
import { createTestUser } from '../support/users.ts';

// What the purges of Idempotency-Keys (items) and of sessions (auth) drop, and what they must never drop: a key
// still within its 24 h, a session not yet expired, ended or not. The database is this file's own.
let scratch: ScratchDatabase;
let database: DatabaseHandle;
let userId: string;
/** Every statement the handle ran, to explain the purges' own SQL. */
const statements: CompiledQuery[] = [];

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = createDatabase(config, undefined, (event) => statements.push(event.query));
  userId = (await createTestUser(database.db, config)).user.id;
}, 60_000);

afterAll(async () => {
  await database?.close();
  await scratch?.drop();
});

beforeEach(async () => {
  await sql`delete from idempotency_key`.execute(database.db);
  await sql`delete from session`.execute(database.db);
});

describe('the Idempotency-Key purge', () => {
  it('drops keys used over 24 h ago, in batches, and keeps younger ones', async () => {
    await addIdempotencyKeys(database.db, userId, 7, 'used-30h-ago', -30);
    await addIdempotencyKeys(database.db, userId, 2, 'used-25h-ago', -25);
    await addIdempotencyKeys(database.db, userId, 3, 'used-23h-ago', -23);
    await addIdempotencyKeys(database.db, userId, 1, 'used-now', 0);
    // 9 to drop with batches of 2: five statements, the last one short.
    expect(await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 2 })).toBe(9);
    expect(await labelCounts(database.db, 'idempotency_key')).toEqual({ 'used-23h-ago': 3, 'used-now': 1 });
    expect(await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 2 })).toBe(0);
  });

  it('stops at its batch cap, leaving the rest to the next pass', async () => {
    await addIdempotencyKeys(database.db, userId, 7, 'used-30h-ago', -30);
    expect(await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 2, maxBatches: 2 })).toBe(4);
    expect(await labelCounts(database.db, 'idempotency_key')).toEqual({ 'used-30h-ago': 3 });
    expect(await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 2, maxBatches: 2 })).toBe(3);
  });

  it('stops between batches once its signal aborts (a shutdown)', async () => {
    await addIdempotencyKeys(database.db, userId, 3, 'used-30h-ago', -30);
    const stop = new AbortController();
    stop.abort();
    expect(await purgeExpiredIdempotencyKeys(database.db, 24, { signal: stop.signal })).toBe(0);
    expect(await labelCounts(database.db, 'idempotency_key')).toEqual({ 'used-30h-ago': 3 });
  });
});

describe('the session purge', () => {
  it('drops expired sessions with their refresh tokens, in batches, and keeps every unexpired one', async () => {
    await addSessions(database.db, userId, 5, 'expired', -1, null);
    await addSessions(database.db, userId, 3, 'ended-and-expired', -1, -100);
    // Ended but not expired: kept, so its spent tokens are still recognised as replays.
    await addSessions(database.db, userId, 2, 'ended', 100, -1);
    await addSessions(database.db, userId, 4, 'open', 100, null);
    expect(await purgeExpiredSessions(database.db, { batchSize: 3 })).toBe(8);
    expect(await labelCounts(database.db, 'session')).toEqual({ ended: 2, open: 4 });
    expect(await refreshTokensOf(database.db, 'expired')).toBe(0);
    expect(await refreshTokensOf(database.db, 'ended-and-expired')).toBe(0);
    expect(await refreshTokensOf(database.db, 'ended')).toBe(4);
    expect(await refreshTokensOf(database.db, 'open')).toBe(8);
  });
});

describe('the purge statements', () => {
  it('find their rows through an index, never by reading the whole table', async () => {
    statements.length = 0;
    await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 3 });
    await purgeExpiredSessions(database.db, { batchSize: 3 });
    const deletes = statements.filter((q) => /^\s*delete/i.test(q.sql));
    expect(deletes).toHaveLength(2);
    const plans = await database.db.transaction().execute(async (trx) => {
      // With sequential scans priced out, a plan still has one only when no index can serve the predicate.
      await sql`set local enable_seqscan = off`.execute(trx);
      const explained: string[] = [];
      for (const query of deletes) {
        const { rows } = await trx.executeQuery<{ 'QUERY PLAN': string }>(
          CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
        );
        explained.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
      return explained;
    });
    const [keys, sessions] = plans;
    expect(keys).not.toMatch(/Seq Scan/);
    expect(keys).toMatch(/idempotency_key_created_idx/);
    expect(sessions).not.toMatch(/Seq Scan/);
    expect(sessions).toMatch(/session_expires_idx/);
  });
});
