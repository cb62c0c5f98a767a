import { sql } from 'kysely';
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
});
