import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type Dirent, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { functionFolders } from './support/functions.ts';
import { repoRoot } from './support/manifests.ts';

/**
 * What each image ships, without Docker: knative/stage-bundle.sh (the Dockerfile's last build step) copies a built
 * bundle into an empty directory, and the test runs it from there as the container does (`node /app/index.mjs`,
 * working directory /app, nothing else around it).
 */

const staged: string[] = [];

function stage(name: string): string {
  const out = mkdtempSync(join(tmpdir(), `fs-image-${name}-`));
  staged.push(out);
  execFileSync('sh', ['knative/stage-bundle.sh', name, out], { cwd: repoRoot, stdio: 'pipe' });
  return out;
}

afterAll(() => {
  for (const dir of staged) rmSync(dir, { recursive: true, force: true });
});

const containerEnv = (extra: Record<string, string>) => ({
  PATH: process.env.PATH,
  ENVIRONMENT: 'production',
  SECRET_KEY: TEST_SECRET_KEY,
  LOG_LEVEL: 'warn',
  // The container's root filesystem is read-only: a bundle that tried to write its data dir would crash here.
  DATA_DIR: '/proc/function-set-read-only',
  ...extra,
});

/** Files below `dir` (relative, sorted), leaving out what an image never ships: source maps and metafiles. */
function shippedFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.map') && !entry.name.endsWith('meta.json'))
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

describe.each(functionFolders())('the %s image', (name) => {
  it('holds only the bundle (entry, lazy chunks and native addon when it has one), no maps or metafile', () => {
    const app = stage(name);
    const built = shippedFiles(resolve(repoRoot, 'dist/functions', name));
    expect(built).toContain('index.mjs');
    expect(existsSync(resolve(repoRoot, 'dist/functions', name, 'bcrypt.node'))).toBe(
      built.includes('bcrypt.node'),
    );
    expect(shippedFiles(app)).toEqual(built);
  });

  it('serves from its own directory on $PORT and stops cleanly on SIGTERM', async () => {
    const app = stage(name);
    const port = await freePort();
    const child = spawn(process.execPath, [join(app, 'index.mjs')], {
      cwd: app,
      env: containerEnv({ PORT: String(port), DATABASE_URL: inject('databaseUrl') }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      let response: Response | undefined;
      for (let i = 0; i < 200 && !response; i++) {
        response = await fetch(`http://127.0.0.1:${port}/api/${name}-image-probe/x`).catch(() => undefined);
        if (!response) await new Promise((r) => setTimeout(r, 50));
      }
      expect(response, stderr).toBeDefined();
      expect(response!.status).toBe(404);
      expect(response!.headers.get('content-type')).toContain('application/problem+json');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);
  });
});

describe('the migrate image', () => {
  it('applies the migrations and creates the first superuser on an empty database, then does nothing', async () => {
    const app = stage('migrate');
    expect(shippedFiles(app)).toEqual([...shippedFiles(resolve(repoRoot, 'dist/tools')), 'index.mjs'].sort());
    expect(shippedFiles(app)).toContain('migrate.mjs');

    // An empty database of its own on the run's server.
    const url = new URL(inject('databaseUrl'));
    const database = `image_migrate_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: url.toString() });
    await admin.connect();
    await admin.query(`create database "${database}"`);
    url.pathname = `/${database}`;
    const env = containerEnv({
      DATABASE_URL: url.toString(),
      FIRST_SUPERUSER_EMAIL: 'root@example.com',
      FIRST_SUPERUSER_PASSWORD: 'image-test-password',
    });
    const run = () =>
      execFileSync(process.execPath, [join(app, 'index.mjs')], {
        cwd: app,
        env,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    try {
      expect(run()).toMatch(/first superuser root@example.com: created/);
      const db = new pg.Client({ connectionString: url.toString() });
      await db.connect();
      const users = await db.query('select email, is_superuser from "user"').finally(() => db.end());
      expect(users.rows).toEqual([{ email: 'root@example.com', is_superuser: true }]);
      const again = run();
      expect(again).toMatch(/migrations: up to date/);
      expect(again).toMatch(/already exists/);
    } finally {
      await admin.query(`drop database if exists "${database}" with (force)`);
      await admin.end();
    }
  });
});
