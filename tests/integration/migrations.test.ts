import { Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../migrations/index.ts';
import { verifyPassword } from '../../shared/auth/passwords.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { migrateToLatest, migrateToNone, setupDatabase } from '../../shared/db/migrate.ts';
import { testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';

// An empty database of its own on the run's server, so migrating down does not disturb the other tests.
let scratch: ScratchDatabase;
let database: DatabaseHandle;

async function tables(): Promise<string[]> {
  const rows = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = 'public' order by table_name`.execute(
    database.db,
  );
  return rows.rows.map((r) => r.table_name);
}

beforeAll(async () => {
  scratch = await createScratchDatabase({ migrated: false });
  database = createDatabase(testConfig({ DATABASE_URL: scratch.url }));
});

afterAll(async () => {
  await database.close();
  await scratch.drop();
});

describe('migrations', () => {
  it('apply up, revert down to nothing, and apply again', async () => {
    const applied = await migrateToLatest(database.db);
    expect(applied).toEqual(Object.keys(migrations).map((m) => `applied ${m}`));
    expect(await tables()).toEqual(expect.arrayContaining(['item', 'user']));

    const reverted = await migrateToNone(database.db);
    expect(reverted).toHaveLength(Object.keys(migrations).length);
    expect((await tables()).filter((t) => !t.startsWith('kysely_'))).toEqual([]);

    expect(await migrateToLatest(database.db)).toHaveLength(Object.keys(migrations).length);
    expect(await migrateToLatest(database.db)).toEqual([]);
  });

  it('make emails unique case-insensitively and cascade items with their owner', async () => {
    const owner = await database.db
      .insertInto('user')
      .values({ email: 'case@example.com', hashed_password: 'x' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await expect(
      sql`insert into "user" (email, hashed_password) values ('CASE@example.com', 'x')`.execute(database.db),
    ).rejects.toThrow(/unique/);
    await database.db.insertInto('item').values({ title: 't', owner_id: owner.id }).execute();
    await database.db.deleteFrom('user').where('id', '=', owner.id).execute();
    const left = await database.db.selectFrom('item').select('id').where('owner_id', '=', owner.id).execute();
    expect(left).toEqual([]);
  });

  it('create the first superuser once, and leave it alone afterwards', async () => {
    const config = testConfig({
      FIRST_SUPERUSER_EMAIL: 'Root@Example.com',
      FIRST_SUPERUSER_PASSWORD: 'first-password',
    });
    const first = await setupDatabase(database.db, config);
    expect(first.superuserCreated).toBe(true);
    const again = await setupDatabase(database.db, {
      ...config,
      firstSuperuser: { email: 'root@example.com', password: 'other-password' },
    });
    expect(again.superuserCreated).toBe(false);
    const row = await database.db
      .selectFrom('user')
      .selectAll()
      .where('email', '=', 'root@example.com')
      .executeTakeFirstOrThrow();
    expect(row.is_superuser).toBe(true);
    expect(await verifyPassword('first-password', row.hashed_password)).toBe(true);
  });

  it('generate a dev superuser password outside production, and refuse to in production', async () => {
    const dev = await setupDatabase(
      database.db,
      testConfig({ FIRST_SUPERUSER_EMAIL: 'dev-admin@example.com' }),
    );
    expect(dev.generatedPassword).toMatch(/^[\w-]{12,}$/);
    await expect(
      setupDatabase(
        database.db,
        testConfig({ ENVIRONMENT: 'production', FIRST_SUPERUSER_EMAIL: 'p@example.com' }),
      ),
    ).rejects.toThrow(/FIRST_SUPERUSER_PASSWORD/);
  });

  it('build the list counters and indexes on tables that hold data, and take them away again', async () => {
    const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => migrations } });
    const before = '0003_outbox_trace_context';
    const to = async (name: string) => {
      const result = await migrator.migrateTo(name);
      if (result.error) throw result.error;
    };
    const counters = async () =>
      (
        await sql<{ counter: string; n: string }>`
          select counter, sum(n)::text as n from row_count group by counter having sum(n) <> 0`.execute(
          database.db,
        )
      ).rows;
    const truth = async () =>
      (
        await sql<{ counter: string; n: string }>`
          select counter, count(*)::text as n from item, unnest(item_counters(owner_id, is_active)) counter
          group by counter
          union all select 'user', count(*)::text from "user"`.execute(database.db)
      ).rows;
    const byName = (rows: { counter: string; n: string }[]) =>
      Object.fromEntries(rows.map((r) => [r.counter, Number(r.n)]));
    const indexes = async () =>
      (
        await sql<{ indexname: string }>`
          select indexname from pg_indexes where tablename in ('item', 'user') order by indexname`.execute(
          database.db,
        )
      ).rows.map((r) => r.indexname);

    await to(before);
    const oldIndexes = await indexes();
    const owners = await sql<{ id: string }>`
      insert into "user" (email, hashed_password)
      select 'existing-' || g || '@example.com', 'x' from generate_series(1, 3) g returning id`.execute(
      database.db,
    );
    for (const [i, owner] of owners.rows.entries()) {
      await sql`insert into item (title, owner_id, is_active)
        select 'old ' || g, ${owner.id}::uuid, g % 4 <> 0 from generate_series(1, ${10 * (i + 1)}::int) g`.execute(
        database.db,
      );
    }

    await to('0004_list_counts_and_search');
    const built = byName(await counters());
    expect(built).toEqual(byName(await truth()));
    expect(built.item).toBe(60);
    expect(built['item.inactive']).toBe(14);
    expect(await indexes()).toEqual(
      expect.arrayContaining([
        'item_created_idx',
        'item_owner_created_idx',
        'item_title_trgm_idx',
        'user_created_idx',
      ]),
    );
    // The triggers keep them from here on.
    await sql`delete from item where owner_id = ${owners.rows[0]!.id}::uuid`.execute(database.db);
    await sql`update item set is_active = not is_active where owner_id = ${owners.rows[1]!.id}::uuid`.execute(
      database.db,
    );
    expect(byName(await counters())).toEqual(byName(await truth()));

    await to(before);
    expect(await tables()).not.toContain('row_count');
    expect(await indexes()).toEqual(oldIndexes);
    const functions = await sql<{ proname: string }>`
      select proname from pg_proc where proname in ('add_to_count', 'count_items', 'count_users', 'item_counters')`.execute(
      database.db,
    );
    expect(functions.rows).toEqual([]);
    // Rows still insert once the triggers are gone, and the way back up counts them.
    await sql`insert into item (title, owner_id) values ('after', ${owners.rows[2]!.id}::uuid)`.execute(
      database.db,
    );
    await migrateToLatest(database.db);
    expect(byName(await counters())).toEqual(byName(await truth()));
  });
});
