import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per login. It lasts until `expires_at` (REFRESH_TOKEN_EXPIRE_DAYS after the login, whatever the
  // refreshes) unless ended sooner; ended rows stay until they expire, so a replayed token is still recognised.
  await db.schema
    .createTable('session')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('user.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_used_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('user_agent', 'varchar(512)')
    .addColumn('client_address', 'varchar(64)')
    .addColumn('ended_at', 'timestamptz')
    .addColumn('end_reason', 'varchar(32)')
    .execute();
  // A user's open sessions, newest first (the sessions list and "end all of them").
  await sql`create index session_user_open_idx on session (user_id, created_at desc, id desc) where ended_at is null`.execute(
    db,
  );
  await db.schema.createIndex('session_expires_idx').on('session').column('expires_at').execute();

  // Every refresh token a session was given, as a SHA-256 hash: the newest is unspent, the others are spent,
  // and presenting a spent one again is a replay that ends the session.
  await db.schema
    .createTable('refresh_token')
    .addColumn('token_hash', 'bytea', (c) => c.primaryKey())
    .addColumn('session_id', 'uuid', (c) => c.notNull().references('session.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('spent_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('refresh_token_session_idx').on('refresh_token').column('session_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('refresh_token').ifExists().execute();
  await db.schema.dropTable('session').ifExists().execute();
}
