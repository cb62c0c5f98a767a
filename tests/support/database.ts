import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { TEST_SECRET_KEY } from './app.ts';

export interface ScratchDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A migrated database of its own on the run's server, for tests whose assertions cover whole tables (the
 * outbox is shared by every instance on a database: a relay from another test file would deliver this
 * file's events elsewhere), or empty (`migrated: false`) for the migration tests.
 */
export async function createScratchDatabase({ migrated = true } = {}): Promise<ScratchDatabase> {
  const serverUrl = inject('databaseUrl');
  const name = `scratch_${randomBytes(6).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  if (migrated) {
    const database = createDatabase(
      loadConfig({ DATABASE_URL: url.toString(), SECRET_KEY: TEST_SECRET_KEY }),
    );
    try {
      await migrateToLatest(database.db);
    } finally {
      await database.close();
    }
  }
  return { url: url.toString(), drop: () => admin(`drop database if exists "${name}" with (force)`) };
}
