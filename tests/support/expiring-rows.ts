import { sql } from 'kysely';
import type { Db } from '../../shared/db/index.ts';

/**
 * Rows of every table the housekeeping purges, written straight into the database with the ages a test needs,
 * each carrying a label (in a column of its own) so `labelCounts` can say which kinds are left.
 */

/** Hours relative to now: -30 is 30 hours ago; null stays null. */
const hoursFromNow = (hours: number | null) =>
  hours === null ? null : sql`now() + ${hours} * interval '1 hour'`;

export type PurgedTable = 'email_token' | 'outbox_mail' | 'outbox_event' | 'idempotency_key' | 'session';

/** Where each table keeps the label. */
const LABEL: Record<PurgedTable, ReturnType<typeof sql>> = {
  email_token: sql`email`,
  outbox_mail: sql`recipient`,
  outbox_event: sql`subject`,
  idempotency_key: sql`split_part(key, '#', 1)`,
  session: sql`user_agent`,
};

/** How many rows of each label `table` holds. */
export async function labelCounts(db: Db, table: PurgedTable): Promise<Record<string, number>> {
  const { rows } = await sql<{ label: string; count: string }>`
    select ${LABEL[table]} as label, count(*) as count from ${sql.table(table)} group by 1 order by 1`.execute(
    db,
  );
  return Object.fromEntries(rows.map((r) => [r.label, Number(r.count)]));
}

/** Reset tokens of `userId`, issued 100 hours ago, expiring and spent `hours` from now. */
export async function addTokens(
  db: Db,
  userId: string,
  count: number,
  label: string,
  expires: number,
  spent: number | null,
) {
  await sql`insert into email_token (token_hash, purpose, user_id, email, created_at, expires_at, spent_at)
    select encode(sha256(gen_random_uuid()::text::bytea), 'hex'), 'reset', ${userId}, ${label},
      now() - interval '100 hours', ${hoursFromNow(expires)}, ${hoursFromNow(spent)}
    from generate_series(1, ${count})`.execute(db);
}

/** Mails written 100 hours ago, delivered `delivered` hours from now (null: not yet). */
export async function addMails(db: Db, count: number, label: string, delivered: number | null) {
  await sql`insert into outbox_mail (id, recipient, subject, text, html, created_at, attempts, delivered_at)
    select gen_random_uuid(), ${label}, 's', 't', 'h', now() - interval '100 hours', 3, ${hoursFromNow(delivered)}
    from generate_series(1, ${count})`.execute(db);
}

/** Item events written 100 hours ago, delivered `delivered` hours from now (null: not yet). */
export async function addEvents(db: Db, count: number, label: string, delivered: number | null) {
  await sql`insert into outbox_event (id, type, source, subject, data, occurred_at, delivered_at)
    select gen_random_uuid(), 'com.example.items.created', '/api/items', ${label}, '{}',
      now() - interval '100 hours', ${hoursFromNow(delivered)}
    from generate_series(1, ${count})`.execute(db);
}

/** Idempotency-Keys of `userId` (`label#n`), with their stored answer, used `created` hours from now. */
export async function addIdempotencyKeys(
  db: Db,
  userId: string,
  count: number,
  label: string,
  created: number,
) {
  await sql`insert into idempotency_key (user_id, key, request_hash, response_status, response_body, created_at)
    select ${userId}, ${label} || '#' || gen_random_uuid(), repeat('0', 64), 201, '{}', ${hoursFromNow(created)}
    from generate_series(1, ${count})`.execute(db);
}

/**
 * Sessions of `userId` (their user agent is the label), expiring and ended `hours` from now, each with two
 * refresh tokens (one spent), as a session that refreshed once has.
 */
export async function addSessions(
  db: Db,
  userId: string,
  count: number,
  label: string,
  expires: number,
  ended: number | null,
) {
  await sql`with made as (
      insert into session (user_id, created_at, expires_at, user_agent, ended_at, end_reason)
      select ${userId}, now() - interval '400 hours', ${hoursFromNow(expires)}, ${label}, ${hoursFromNow(ended)},
        case when ${ended === null} then null else 'logout' end
      from generate_series(1, ${count})
      returning id
    )
    insert into refresh_token (token_hash, session_id, spent_at)
    select sha256(gen_random_uuid()::text::bytea), made.id, spent.at
    from made cross join (values (now() - interval '1 hour'), (null::timestamptz)) as spent(at)`.execute(db);
}

/** Refresh tokens whose session is labelled `label`. */
export async function refreshTokensOf(db: Db, label: string): Promise<number> {
  const { rows } = await sql<{ count: string }>`
    select count(*) as count from refresh_token t join session s on s.id = t.session_id
    where s.user_agent = ${label}`.execute(db);
  return Number(rows[0]?.count ?? 0);
}
