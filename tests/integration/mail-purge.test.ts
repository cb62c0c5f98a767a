import { CompiledQuery, sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { purgeEmailTokens } from '../../shared/auth/email-tokens.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { mailStore } from '../../shared/mail/outbox-store.ts';
import { testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { createTestUser } from '../support/users.ts';

// What the purges of mail and link tokens (shared/mail/housekeeping.ts) drop, and what they must never drop:
// an undelivered mail, an open link. The database is this file's own, so the table counts below are this
// file's rows only.
let scratch: ScratchDatabase;
let database: DatabaseHandle;
let userId: string;
/** Every statement the handle ran, to explain the purge's own SQL. */
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
  await sql`delete from email_token`.execute(database.db);
  await sql`delete from outbox_mail`.execute(database.db);
});

/** Hours relative to now: -30 is 30 hours ago. */
const hoursFromNow = (hours: number | null) =>
  hours === null ? null : sql`now() + ${hours} * interval '1 hour'`;

/** `count` tokens labelled `label` (in their email column), expiring and spent `hours` from now. */
async function addTokens(count: number, label: string, expires: number, spent: number | null) {
  await sql`insert into email_token (token_hash, purpose, user_id, email, created_at, expires_at, spent_at)
    select encode(sha256(gen_random_uuid()::text::bytea), 'hex'), 'reset', ${userId}, ${label},
      now() - interval '100 hours', ${hoursFromNow(expires)}, ${hoursFromNow(spent)}
    from generate_series(1, ${count})`.execute(database.db);
}

/** `count` mails to `label`, delivered `delivered` hours from now (null: not yet), written 100 hours ago. */
async function addMails(count: number, label: string, delivered: number | null) {
  await sql`insert into outbox_mail (id, recipient, subject, text, html, created_at, attempts, delivered_at)
    select gen_random_uuid(), ${label}, 's', 't', 'h', now() - interval '100 hours', 3, ${hoursFromNow(delivered)}
    from generate_series(1, ${count})`.execute(database.db);
}

async function countsBy(table: 'email_token' | 'outbox_mail', column: 'email' | 'recipient') {
  const { rows } = await sql<{ label: string; count: string }>`
    select ${sql.ref(column)} as label, count(*) as count from ${sql.table(table)} group by 1 order by 1`.execute(
    database.db,
  );
  return Object.fromEntries(rows.map((r) => [r.label, Number(r.count)]));
}

const TOKENS_KEPT = { 'expired-1h-ago': 2, 'open-old': 4, 'open-spent-1h-ago': 3 };
async function addEveryKindOfToken() {
  await addTokens(7, 'expired-30h-ago', -30, null);
  await addTokens(5, 'spent-30h-ago', 10, -30);
  await addTokens(1, 'spent-and-expired-30h-ago', -30, -31);
  await addTokens(2, 'expired-1h-ago', -1, null);
  await addTokens(3, 'open-spent-1h-ago', 10, -1);
  // Issued long ago (created_at) but neither spent nor expired: a link that still works.
  await addTokens(4, 'open-old', 1, null);
}

describe('the e-mail token purge', () => {
  it('drops tokens spent or expired over the threshold ago, in batches, and keeps every other', async () => {
    await addEveryKindOfToken();
    // 13 to drop with batches of 3: five statements, the last one short.
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 3 })).toBe(13);
    expect(await countsBy('email_token', 'email')).toEqual(TOKENS_KEPT);
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 3 })).toBe(0);
  });

  it('drops exactly one full batch when that is all there is, then stops', async () => {
    await addTokens(4, 'expired-30h-ago', -30, null);
    expect(await purgeEmailTokens(database.db, 24, { batchSize: 4 })).toBe(4);
    expect(await countsBy('email_token', 'email')).toEqual({});
  });
});

describe('the delivered mail purge', () => {
  it('drops mail delivered over the threshold ago, in batches, and never an undelivered one', async () => {
    await addMails(8, 'delivered-30h-ago', -30);
    await addMails(2, 'delivered-1h-ago', -1);
    // Written long ago and refused ever since: still to be sent, however old.
    await addMails(3, 'undelivered-old', null);
    expect(await mailStore.purgeDelivered(database.db, 24, { batchSize: 3 })).toBe(8);
    expect(await countsBy('outbox_mail', 'recipient')).toEqual({
      'delivered-1h-ago': 2,
      'undelivered-old': 3,
    });
  });
});

describe('the purge statements', () => {
  it('find their rows through an index, never by reading the whole table', async () => {
    statements.length = 0;
    await purgeEmailTokens(database.db, 24, { batchSize: 3 });
    await mailStore.purgeDelivered(database.db, 24, { batchSize: 3 });
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
    const [tokens, mail] = plans;
    expect(tokens).not.toMatch(/Seq Scan/);
    expect(tokens).toMatch(/email_token_expires_idx/);
    expect(tokens).toMatch(/email_token_spent_idx/);
    expect(mail).not.toMatch(/Seq Scan/);
    expect(mail).toMatch(/outbox_mail_delivered_idx/);
  });
});
