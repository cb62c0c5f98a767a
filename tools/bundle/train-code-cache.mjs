// Build step, run as its own process by esbuild.config.mjs:
// `node --experimental-transform-types train-code-cache.mjs dist/functions/<name>` (the flag lets it sign its
// token with the product's own code, shared/auth/tokens.ts).
// Starts the function through its launcher, sends the requests a cold instance meets first (every route, with
// and without a token, against a database that refuses connections, with tracing on), then writes the V8 code
// cache of all the code those requests compiled, for the function and each chunk it loaded. V8 compiles functions lazily, so a cache made right after loading would hold
// little more than the top level; made after the requests, the first real request compiles (almost) nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { issueAccessToken } from '../../shared/auth/tokens.ts';
import { loadConfig } from '../../shared/config.ts';

const dir = resolve(process.argv[2] ?? '');

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer().once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

const dataDir = mkdtempSync(join(tmpdir(), 'fs-code-cache-'));
const secret = randomBytes(32).toString('hex');
const port = await freePort();
Object.assign(process.env, {
  PORT: String(port),
  LOG_LEVEL: 'info',
  DATA_DIR: dataDir,
  SECRET_KEY: secret,
  // Nothing listens there: database routes take their 503 path, quickly.
  DATABASE_URL: `postgresql://trainer@127.0.0.1:${await freePort()}/trainer`,
  DB_CONNECT_TIMEOUT_MS: '1000',
  // Tracing on, towards a collector that is not there: the SDK's chunk is loaded and run, so it is cached too,
  // and with batches leaving every 50 ms so is the gRPC exporter's (its first export would otherwise compile
  // half a megabyte on a serving instance, a few seconds after its cold start).
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
  OTEL_BSP_SCHEDULE_DELAY: '50',
});

const fn = await import(pathToFileURL(join(dir, 'index.mjs')).href);
await fn.main();

const base = `http://127.0.0.1:${port}`;
// Signed as the auth function signs them, for this run's SECRET_KEY and the default issuer and audience.
const { token } = await issueAccessToken(loadConfig(process.env), randomUUID(), randomUUID());
const bearer = `Bearer ${token}`;
const requests = [{ method: 'GET', path: '/__code_cache_warm_up__' }];
for (const route of fn.definition.routes) {
  const path = route.url.replace(/:\w+/g, randomUUID());
  const body = ['POST', 'PUT', 'PATCH'].includes(route.method) ? '{}' : undefined;
  requests.push({ method: route.method, path, body }, { method: route.method, path, body, auth: bearer });
}
// Twice over, so code that only runs from the second request on (caches, pools) is compiled too.
for (const round of [1, 2]) {
  for (const { method, path, body, auth } of requests) {
    const headers = {
      ...(body && { 'content-type': 'application/json' }),
      ...(auth && { authorization: auth }),
    };
    const response = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    if (round === 2 && response.status >= 500 && response.status !== 503) {
      console.error(`warning: ${method} ${path} answered ${response.status} during code-cache training`);
    }
  }
}

fn.writeCodeCache();
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
