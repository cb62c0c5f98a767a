import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { buildAll } from '../../esbuild.config.mjs';
import { startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    /** The embedded server's data dir, or '' when the tests use DATABASE_URL. */
    embeddedDataDir: string;
    /** Whether a Redis answers on REDIS_URL (default 127.0.0.1:6379); see redis-available.ts. */
    redisAvailable: boolean;
  }
}

/**
 * Once per run: build the bundles (the e2e tests run them as processes), then give the run a database of its
 * own: a fresh one on DATABASE_URL's server when that is set, or an embedded PostgreSQL otherwise.
 */
/** True when something accepts TCP connections at REDIS_URL's host and port within half a second. */
function redisReachable(): Promise<boolean> {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export default async function setup(project: TestProject) {
  project.provide('redisAvailable', await redisReachable());
  await buildAll();
  const name = `test_${Date.now()}_${process.pid}`;
  let databaseUrl: string;
  let teardown: () => Promise<void>;
  if (process.env.DATABASE_URL) {
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database "${name}"`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    teardown = async () => {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`drop database if exists "${name}" with (force)`);
      await client.end();
    };
    project.provide('embeddedDataDir', '');
  } else {
    const dataDir = mkdtempSync(join(tmpdir(), 'fs-test-pg-'));
    const embedded = await startEmbeddedPostgres({ dataDir, database: name, settings: { fsync: 'off' } });
    databaseUrl = embedded.url;
    teardown = async () => {
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    };
    project.provide('embeddedDataDir', dataDir);
  }
  const config = loadConfig({ DATABASE_URL: databaseUrl, SECRET_KEY: 'x'.repeat(32) });
  const database = createDatabase(config);
  await migrateToLatest(database.db);
  await database.close();
  project.provide('databaseUrl', databaseUrl);
  return teardown;
}
