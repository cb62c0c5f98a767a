import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('user')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('email', 'varchar(320)', (c) => c.notNull())
    .addColumn('hashed_password', 'text', (c) => c.notNull())
    .addColumn('full_name', 'varchar(255)')
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('is_superuser', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Emails are stored lower-cased by the app; indexing lower() as well keeps uniqueness case-insensitive even
  // for rows written by hand.
  await sql`create unique index user_email_lower_key on "user" (lower(email))`.execute(db);
  await db.schema.createIndex('user_created_at_idx').on('user').columns(['created_at desc', 'id']).execute();

  await db.schema
    .createTable('item')
    .addColumn('id', 'uuid', (c) => c.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('title', 'varchar(255)', (c) => c.notNull())
    .addColumn('description', 'varchar(255)')
    .addColumn('owner_id', 'uuid', (c) => c.notNull().references('user.id').onDelete('cascade'))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The two list queries: a user's own items newest first, and every item newest first for a superuser.
  await db.schema
    .createIndex('item_owner_created_idx')
    .on('item')
    .columns(['owner_id', 'created_at desc', 'id'])
    .execute();
  await db.schema.createIndex('item_created_idx').on('item').columns(['created_at desc', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('item').ifExists().execute();
  await db.schema.dropTable('user').ifExists().execute();
}
