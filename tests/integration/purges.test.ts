import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { purgeExpiredIdempotencyKeys } from '../../functions/items/repository.ts';
import { purgeEmailTokens } from '../../shared/auth/email-tokens.ts';
import { purgeExpiredSessions } from '../../shared/auth/session-store.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { mailStore } from '../../shared/mail/outbox-store.ts';
import { testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import {
  addIdempotencyKeys,
  addMails,
  addSessions,
  addTokens,
  labelCounts,
  refreshTokensOf,
} from '../support/expiring-rows.ts';
import { createTestUser } from '../support/users.ts';

// What each purge of the housekeeping drops, and what it must never drop: a key still within its 24 h, a session
// not yet expired (ended or not), an open e-mail link, an undelivered mail. The database is this file's own, so
// the table counts below are this file's rows only.
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
  await sql`delete from email_token`.execute(database.db);
  await sql`delete from outbox_mail`.execute(database.db);
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

describe('the e-mail token purge', () => {
  it('drops tokens spent or expired over the threshold ago, in batches, and keeps every other', async () => {
    const add = (count: number, label: string, expires: number, spent: number | null) =>
      addTokens(database.db, userId, count, label, expires, spent);
    await add(7, 'expired-30h-ago', -30, null);
    await add(5, 'spent-30h-ago', 10, -30);
    await add(1, 'spent-and-expired-30h-ago', -30, -31);
    await add(2, 'expired-1h-ago', -1, null);
    await add(3, 'open-spent-1h-ago', 10, -1);
    // Issued long ago (created_at) but neither spent nor expired: a link that still works.
    await add(4, 'open-old', 1, null);
    // 13 to drop with batches of 3: five statements, the last one short.
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 3 })).toBe(13);
    expect(await labelCounts(database.db, 'email_token')).toEqual({
      'expired-1h-ago': 2,
      'open-old': 4,
      'open-spent-1h-ago': 3,
    });
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 3 })).toBe(0);
  });

  it('drops exactly one full batch when that is all there is, then stops', async () => {
    await addTokens(database.db, userId, 4, 'expired-30h-ago', -30, null);
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 4 })).toBe(4);
    expect(await labelCounts(database.db, 'email_token')).toEqual({});
  });
});

describe('the delivered mail purge', () => {
  it('drops mail delivered over the threshold ago, in batches, and never an undelivered one', async () => {
    await addMails(database.db, 8, 'delivered-30h-ago', -30);
    await addMails(database.db, 2, 'delivered-1h-ago', -1);
    // Written long ago and refused ever since: still to be sent, however old.
    await addMails(database.db, 3, 'undelivered-old', null);
    expect(await mailStore.purgeDelivered(database.db, 24, { batchSize: 3 })).toBe(8);
    expect(await labelCounts(database.db, 'outbox_mail')).toEqual({
      'delivered-1h-ago': 2,
      'undelivered-old': 3,
    });
  });
});

describe('the purge statements', () => {
  it('find their rows through an index, never by reading the whole table', async () => {
    statements.length = 0;
    await purgeExpiredIdempotencyKeys(database.db, 24, { batchSize: 3 });
    await purgeExpiredSessions(database.db, { batchSize: 3 });
    await purgeEmailTokens(database.db, 24, { batchSize: 3 });
    await mailStore.purgeDelivered(database.db, 24, { batchSize: 3 });
    const deletes = statements.filter((q) => /^\s*delete/i.test(q.sql));
    expect(deletes).toHaveLength(4);
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
    const [keys, sessions, tokens, mail] = plans;
    expect(keys).not.toMatch(/Seq Scan/);
    expect(keys).toMatch(/idempotency_key_created_idx/);
    expect(sessions).not.toMatch(/Seq Scan/);
    expect(sessions).toMatch(/session_expires_idx/);
    expect(tokens).not.toMatch(/Seq Scan/);
    expect(tokens).toMatch(/email_token_expires_idx/);
    expect(tokens).toMatch(/email_token_spent_idx/);
    expect(mail).not.toMatch(/Seq Scan/);
    expect(mail).toMatch(/outbox_mail_delivered_idx/);
  });
});
