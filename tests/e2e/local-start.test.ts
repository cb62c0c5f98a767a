import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../local/embedded-postgres.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'fs-local-start-'));
afterAll(() => {
  const link = join(dataDir, 'postgres');
  rmSync(realpathSync(link), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

function postgresProcessesUsing(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(dir) && /postgres/.test(line));
}

describe('npm start (dist/local/start.mjs)', () => {
  it('starts an embedded database, serves the API, and leaves nothing behind on Ctrl-C', async () => {
    const port = await freePort();
    const env: Record<string, string | undefined> = { ...process.env, PORT: String(port), DATA_DIR: dataDir };
    delete env.DATABASE_URL;
    delete env.POSTGRES_SERVER;
    const child = spawn(process.execPath, ['dist/local/start.mjs'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    // A failed assertion must not leave the server (and its database) running.
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const deadline = Date.now() + 60_000;
    while (!output.includes('Ctrl-C stops everything') && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(output).toContain(`http://localhost:${port}/api`);
    expect(output).toMatch(/Log in as\s+admin@example\.com \/ \S+/);
    // The runtime the project brings (package.json's `node`), which npm scripts and this test run on.
    expect(output).toContain(`Node.js    ${process.version}`);

    const health = await fetch(`http://127.0.0.1:${port}/api/health`);
    expect(health.status).toBe(200);
    // As root the cluster may live behind a link (see local/embedded-postgres.ts): look for its real path.
    const clusterDir = realpathSync(join(dataDir, 'postgres'));
    expect(postgresProcessesUsing(clusterDir).length).toBeGreaterThan(0);

    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(postgresProcessesUsing(clusterDir)).toEqual([]);
    expect(readdirSync(join(dataDir, 'postgres'))).toContain('PG_VERSION');
  }, 90_000);
});
