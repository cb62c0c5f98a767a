import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { functionNames } from '../../esbuild.config.mjs';
import { freePort } from '../../local/embedded-postgres.ts';
import { TEST_SECRET_KEY } from '../support/app.ts';

// Each bundle's launcher compiles function.cjs with the V8 code cache the build made by running it
// (tools/bundle/train-code-cache.mjs), both packed with zstd (function.cjs.zst, function.v8cache.zst). A cache V8
// rejects still runs, only slower, so nothing else would notice a build that ships a useless one: this test does.

/** A file of a function as the build wrote it before packing it. */
const unpacked = (dir: string, file: string) => zstdDecompressSync(readFileSync(join(dir, `${file}.zst`)));

function codeCacheOf(dir: string): string {
  const url = pathToFileURL(join(dir, 'index.mjs')).href;
  return execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `const m = await import(${JSON.stringify(url)}); console.log(m.codeCache)`],
    { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH } },
  ).trim();
}

/** Runs an ES-module script in a fresh node process and parses the JSON of its last line. */
function runScript(script: string, env: Record<string, string>): unknown {
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: tmpdir(),
    encoding: 'utf8',
    env: { PATH: process.env.PATH, SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'silent', ...env },
  });
  return JSON.parse(output.trim().split('\n').at(-1)!);
}

describe.each(functionNames)('the %s bundle', (name) => {
  it('is loaded with its code cache, which V8 accepts', () => {
    expect(codeCacheOf(resolve('dist/functions', name))).toBe('accepted');
  });
});

describe('the health bundle with tracing on', () => {
  it('loads the OpenTelemetry chunk before it listens, with its code cache too', async () => {
    const url = pathToFileURL(resolve('dist/functions/health/index.mjs')).href;
    const port = await freePort();
    const closed = await freePort();
    // With an endpoint set, the SDK is imported when the tracer is made, before the server listens.
    const script = `const m = await import(${JSON.stringify(url)}); await m.main();
console.log(JSON.stringify(m.codeCaches())); process.exit(0);`;
    const loaded = runScript(script, {
      PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`,
    });
    expect(loaded).toEqual({ 'function.cjs': 'accepted', 'chunks/tracing-sdk.cjs': 'accepted' });
  });
});

describe('what a cold start loads', () => {
  // Chunks hold what the first request does not need (tools/bundle/plugins.mjs): a function's cheapest route
  // answers from function.cjs alone, and the first query loads pg, from its own code cache.
  it.each([
    ['health', '/api/health/live', '/api/health'],
    ['items', '/api/items/', undefined],
  ])('%s answers %s from function.cjs alone', async (name, cheapest, touchesDatabase) => {
    const url = pathToFileURL(resolve('dist/functions', name, 'index.mjs')).href;
    const port = await freePort();
    const script = `const m = await import(${JSON.stringify(url)}); await m.main();
const get = async (path) => (await fetch('http://127.0.0.1:${port}' + path)).text();
await get(${JSON.stringify(cheapest)});
const cheapest = m.codeCaches();
${touchesDatabase ? `await get(${JSON.stringify(touchesDatabase)});` : ''}
console.log(JSON.stringify({ cheapest, database: m.codeCaches() })); process.exit(0);`;
    const loaded = runScript(script, {
      PORT: String(port),
      // Nothing listens there: the readiness query fails fast, after loading the driver.
      DATABASE_URL: `postgresql://nobody@127.0.0.1:${await freePort()}/none`,
      DB_CONNECT_TIMEOUT_MS: '1000',
    }) as { cheapest: Record<string, string>; database: Record<string, string> };
    expect(loaded.cheapest).toEqual({ 'function.cjs': 'accepted' });
    if (touchesDatabase) {
      expect(loaded.database).toEqual({
        'function.cjs': 'accepted',
        'chunks/pg.cjs': 'accepted',
      });
    }
  });
});

/** A `node` on PATH other than the one running the tests (this machine's own Node.js 20, say), if there is one. */
function otherNode(): { path: string; version: string } | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, 'node');
    if (!existsSync(path) || realpathSync(path) === realpathSync(process.execPath)) continue;
    const version = execFileSync(path, ['--version'], { encoding: 'utf8' }).trim();
    if (version !== process.version) return { path, version };
  }
  return undefined;
}

/** What V8 writes for function.cjs when `node` compiles it, as the build does, but with another binary. */
function cacheMadeBy(node: string, dir: string): Buffer {
  const script = `const { Script } = require('node:vm'); const { readFileSync } = require('node:fs');
const file = ${JSON.stringify(join(dir, 'function.cjs'))};
process.stdout.write(new Script(readFileSync(0, 'latin1'), { filename: file }).createCachedData());`;
  return execFileSync(node, ['-e', script], {
    cwd: tmpdir(),
    input: unpacked(dir, 'function.cjs'),
    maxBuffer: 64 << 20,
  });
}

type ForeignCache = [name: string, make: (dir: string) => Buffer];
const foreignCaches: ForeignCache[] = [
  // The header's second word is V8's version hash: what differs in a cache from any other Node.js release.
  [
    'with another V8 version in its header',
    (dir) => {
      const cache = unpacked(dir, 'function.v8cache');
      cache.writeInt32LE(cache.readInt32LE(4) ^ 1, 4);
      return cache;
    },
  ],
];
const other = otherNode();
if (other)
  foreignCaches.push([
    `made by Node.js ${other.version} (${other.path})`,
    (dir) => cacheMadeBy(other.path, dir),
  ]);

describe.each(foreignCaches)('a code cache %s', (_, makeCache) => {
  it('is rejected, said so on stderr, and the function still serves, compiled from source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-code-cache-'));
    try {
      cpSync(resolve('dist/functions/health'), dir, { recursive: true });
      writeFileSync(join(dir, 'function.v8cache.zst'), zstdCompressSync(makeCache(dir)));
      expect(codeCacheOf(dir)).toBe('rejected');

      const port = await freePort();
      const child = spawn(process.execPath, [join(dir, 'index.mjs')], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH, PORT: String(port), SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      try {
        let status = 0;
        for (let i = 0; i < 200 && status === 0; i++) {
          status = await fetch(`http://127.0.0.1:${port}/api/health/live`).then(
            (r) => r.status,
            () => 0,
          );
          if (status === 0) await new Promise((r) => setTimeout(r, 50));
        }
        expect(status, stderr).toBe(200);
        expect(stderr).toContain('code cache rejected');
      } finally {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
