import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One row per (user, Idempotency-Key) of POST /api/items/. Written in the transaction that inserts the item,
  // so a key is stored exactly when its item is; the primary key is what makes two racing requests agree.
  await db.schema
    .createTable('idempotency_key')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('user.id').onDelete('cascade'))
    .addColumn('key', 'varchar(255)', (c) => c.notNull())
    .addColumn('request_hash', 'char(64)', (c) => c.notNull())
    .addColumn('response_status', 'integer')
    .addColumn('response_body', 'json')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_key_pkey', ['user_id', 'key'])
    .execute();
  await db.schema
    .createIndex('idempotency_key_created_idx')
    .on('idempotency_key')
    .column('created_at')
    .execute();

  // The transactional outbox: an event is written with the change it describes and delivered after commit.
  // `id` is the CloudEvent id, kept across retries so receivers can de-duplicate; `seq` keeps insert order.
  // json (not jsonb) here and for stored responses: the text is kept as written, key order included, so a
  // replayed response and an event body read exactly like the original.
  await db.schema
    .createTable('outbox_event')
    .addColumn('seq', 'bigint', (c) => c.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('id', 'uuid', (c) => c.notNull().unique())
    .addColumn('type', 'varchar(255)', (c) => c.notNull())
    .addColumn('source', 'varchar(255)', (c) => c.notNull())
    .addColumn('subject', 'varchar(255)', (c) => c.notNull())
    .addColumn('data', 'json', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('delivered_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .execute();
  // Only undelivered rows are ever scanned for work, so the index holds only them.
  await sql`create index outbox_event_due_idx on outbox_event (next_attempt_at) where delivered_at is null`.execute(
    db,
  );
  await sql`create index outbox_event_delivered_idx on outbox_event (delivered_at) where delivered_at is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('outbox_event').ifExists().execute();
  await db.schema.dropTable('idempotency_key').ifExists().execute();
}
