import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { mailStore } from '../../shared/mail/outbox-store.ts';
import { testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';

// What the purge on the mail relay's schedule drops, and what it must never drop: an undelivered mail. The
// database is this file's own, so the table counts below are this file's rows only.
let scratch: ScratchDatabase;
let database: DatabaseHandle;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = createDatabase(config);
}, 60_000);

afterAll(async () => {
  await database?.close();
  await scratch?.drop();
});

beforeEach(async () => {
  await sql`delete from outbox_mail`.execute(database.db);
});

/** Hours relative to now: -30 is 30 hours ago. */
const hoursFromNow = (hours: number | null) =>
  hours === null ? null : sql`now() + ${hours} * interval '1 hour'`;

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

describe('the delivered mail purge', () => {
  it('drops mail delivered over the threshold ago, in batches, and never an undelivered one', async () => {
    await addMails(8, 'delivered-30h-ago', -30);
    await addMails(2, 'delivered-1h-ago', -1);
    // Written long ago and refused ever since: still to be sent, however old.
    await addMails(3, 'undelivered-old', null);
    expect(await mailStore.purgeDelivered(database.db, 24, 3)).toBe(8);
    expect(await countsBy('outbox_mail', 'recipient')).toEqual({
      'delivered-1h-ago': 2,
      'undelivered-old': 3,
    });
  });
});
