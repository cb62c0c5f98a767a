import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase, type DatabaseHandle } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { TEST_SECRET_KEY } from './app.ts';

export interface ScratchDatabase {
  url: string;
  handle: DatabaseHandle;
  drop(): Promise<void>;
}

/**
 * A migrated database of its own on the run's server, for a test that locks tables or floods the pool:
 * other test files sharing the run's database must not feel it.
 */
export async function createScratchDatabase(label: string): Promise<ScratchDatabase> {
  const name = `scratch_${label}_${Date.now()}_${process.pid}`;
  const adminUrl = inject('databaseUrl');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = createDatabase(loadConfig({ DATABASE_URL: url.toString(), SECRET_KEY: TEST_SECRET_KEY }));
  await migrateToLatest(handle.db);
  return {
    url: url.toString(),
    handle,
    async drop() {
      await handle.close();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    },
  };
}
