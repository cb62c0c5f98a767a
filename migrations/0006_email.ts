import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // An address counts as verified only once its link was used; existing accounts start unverified.
  await db.schema
    .alterTable('user')
    .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();

  // Reset and verification links. Only the SHA-256 of a token is kept, so a leaked table opens no account; the
  // address a token was mailed to is kept too, so a link stops working once the account's address changes.
  await db.schema
    .createTable('email_token')
    .addColumn('token_hash', 'char(64)', (c) => c.primaryKey())
    .addColumn('purpose', 'varchar(16)', (c) => c.notNull().check(sql`purpose in ('reset', 'verify')`))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('user.id').onDelete('cascade'))
    .addColumn('email', 'varchar(320)', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('spent_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('email_token_user_idx')
    .on('email_token')
    .columns(['user_id', 'purpose'])
    .execute();
  await db.schema.createIndex('email_token_expires_idx').on('email_token').column('expires_at').execute();

  // The mail outbox: a mail is written with the change that causes it and sent after commit by the relay
  // (shared/outbox), with the same claim, lease and retry columns as outbox_event. The body is cleared once the
  // SMTP server has taken the mail, so a sent link does not linger in the database.
  await db.schema
    .createTable('outbox_mail')
    .addColumn('seq', 'bigint', (c) => c.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('recipient', 'varchar(320)', (c) => c.notNull())
    .addColumn('subject', 'varchar(998)', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('html', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('traceparent', 'varchar(55)')
    .addColumn('tracestate', 'varchar(512)')
    .execute();
  await sql`create index outbox_mail_due_idx on outbox_mail (next_attempt_at) where delivered_at is null`.execute(
    db,
  );
  await sql`create index outbox_mail_delivered_idx on outbox_mail (delivered_at) where delivered_at is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('outbox_mail').ifExists().execute();
  await db.schema.dropTable('email_token').ifExists().execute();
  await db.schema.alterTable('user').dropColumn('email_verified').execute();
}
