// `npm run bench`: cold starts, bundle sizes, memory, throughput and login latency, each figure against a baseline
// measured in the same run, interleaved with it so that the drift of a busy machine cancels out; then lists at
// scale (scale.ts). Writes tests/bench/RESULTS.md. Bounded to a few minutes on 2 cores, plus the scale section's
// bulk load; BENCH_QUICK=1 runs a shorter, noisier pass; BENCH_ONLY=scale runs the scale section alone (and
// replaces only its part of RESULTS.md); BENCH_SCALE_ITEMS sets its large size (3 million). BENCH_COLD_ROUNDS
// sets the cold-start rounds; BENCH_VARIANTS the functions also built without each build-time intervention.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as esbuild from 'esbuild';
import pg from 'pg';
import { interventions } from '../../esbuild.config.mjs';
import { freePort, startEmbeddedPostgres } from '../../local/embedded-postgres.ts';
import { hashPassword } from '../../shared/auth/passwords.ts';
import { loadConfig } from '../../shared/config.ts';
import { createDatabase } from '../../shared/db/index.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import {
  type ColdStart,
  coldStart,
  type LoadResult,
  load,
  median,
  probe,
  quantile,
  request,
  type Server,
  startServer,
} from './measure.ts';
import { type Results, renderResults } from './report.ts';
import { runScale } from './scale.ts';
import { renderScale, withScaleSection } from './scale-report.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const quick = process.env.BENCH_QUICK === '1';
const COLD_ROUNDS = Number(process.env.BENCH_COLD_ROUNDS ?? (quick ? 3 : 21));
/** The functions built once more without each build-time intervention, and with the other launcher. */
const VARIANT_FUNCTIONS = (process.env.BENCH_VARIANTS ?? 'health,items').split(',').filter(Boolean);
const LOAD_ROUNDS = quick ? 1 : 5;
const LOAD_SECONDS = quick ? 1.5 : 3;
const CONNECTIONS = 8;
const bench = (path: string) => join(root, 'tests', 'bench', path);

/** The cheapest route of each function: what a cold instance is asked first by a probe or a client. */
const CHEAPEST_ROUTE: Record<string, string> = {
  health: '/api/health/live',
  auth: '/api/auth/jwks.json',
  users: '/api/users/me',
  items: '/api/items/',
  docs: '/api/openapi.json',
};

const log = (line: string) => process.stdout.write(`${line}\n`);
const shuffled = <T>(items: T[]) => [...items].sort(() => Math.random() - 0.5);

async function benchDatabase(): Promise<{ url: string; close(): Promise<void> }> {
  const name = `bench_${Date.now()}_${process.pid}`;
  if (process.env.DATABASE_URL) {
    const admin = async (sql: string) => {
      const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(sql);
      await client.end();
    };
    await admin(`create database "${name}"`);
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    return { url: url.toString(), close: () => admin(`drop database if exists "${name}" with (force)`) };
  }
  const dataDir = mkdtempSync(join(os.tmpdir(), 'fs-bench-pg-'));
  const embedded = await startEmbeddedPostgres({ dataDir, database: name, settings: { fsync: 'off' } });
  return {
    url: embedded.url,
    async close() {
      await embedded.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function functionNames(): string[] {
  const dir = join(root, 'dist', 'functions');
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'index.mjs')))
    .sort();
}

/** The same function built the way it was before this work: one minified ES module, loaded and compiled whole. */
async function buildPlainEsmVariant(name: string): Promise<string> {
  const outdir = join(root, 'dist', 'bench', `${name}-plain-esm`);
  rmSync(outdir, { recursive: true, force: true });
  await esbuild.build({
    stdin: {
      contents: `import { main } from './functions/${name}/index.ts';\nawait main();`,
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    outfile: join(outdir, 'index.mjs'),
    external: ['pg-native', 'cloudflare:sockets'],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  return join(outdir, 'index.mjs');
}

/** The function built by `node esbuild.config.mjs` with extra flags, into dist/bench/<name>-<label>/. */
async function buildVariant(name: string, label: string, flags: string[]): Promise<string> {
  const outdir = join(root, 'dist', 'bench', `${name}-${label}`);
  await promisify(execFile)(
    process.execPath,
    [join(root, 'esbuild.config.mjs'), `--only=${name}`, `--outdir=${outdir}`, ...flags],
    { cwd: root },
  );
  return join(outdir, 'index.mjs');
}

/** The shipped bundle with its code cache removed: the launcher then compiles from source. */
function withoutCodeCache(name: string): string {
  const dir = join(root, 'dist', 'bench', `${name}-no-code-cache`);
  rmSync(dir, { recursive: true, force: true });
  cpSync(join(root, 'dist', 'functions', name), dir, { recursive: true });
  rmSync(join(dir, 'function.v8cache.zst'));
  return join(dir, 'index.mjs');
}

function sizes(name: string) {
  const dir = join(root, 'dist', 'functions', name);
  const size = (file: string) => (existsSync(join(dir, file)) ? statSync(join(dir, file)).size : 0);
  // What a cold start reads: the packed file the build ships, or the file itself in an unpacked build.
  const asRead = (file: string) => size(`${file}.zst`) || size(file);
  const chunks = existsSync(join(dir, 'chunks'))
    ? readdirSync(join(dir, 'chunks'))
        .filter((f) => f.endsWith('.cjs'))
        .reduce((sum, f) => sum + statSync(join(dir, 'chunks', f)).size, 0)
    : 0;
  return {
    startupBytes: size('index.mjs') + asRead('function.cjs'),
    codeCacheBytes: asRead('function.v8cache'),
    chunkBytes: chunks,
    nativeBytes: size('bcrypt.node'),
  };
}

const resultsFile = join(root, 'tests', 'bench', 'RESULTS.md');

/** Lists at scale, in databases of their own on the bench's server; their section of RESULTS.md replaced. */
async function scaleSection(serverUrl: string, env: Record<string, string>) {
  const scale = await runScale({ serverUrl, root, env, quick });
  const section = renderScale(scale, new Date().toISOString());
  const before = existsSync(resultsFile) ? readFileSync(resultsFile, 'utf8') : '# Benchmark results\n';
  writeFileSync(resultsFile, withScaleSection(before, section));
  log(`\n${section}`);
}

async function scaleOnly() {
  const database = await benchDatabase();
  const dataDir = mkdtempSync(join(os.tmpdir(), 'fs-bench-data-'));
  try {
    await scaleSection(database.url, {
      SECRET_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
      DATA_DIR: dataDir,
      RATE_LIMIT_PER_MINUTE: '1000000',
    });
  } finally {
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main() {
  if (process.env.BENCH_ONLY === 'scale') return scaleOnly();
  const began = performance.now();
  const loadAverage = os.loadavg();
  const secretKey = randomBytes(32).toString('hex');
  const database = await benchDatabase();
  const servers: Server[] = [];
  const dataDir = mkdtempSync(join(os.tmpdir(), 'fs-bench-data-'));
  try {
    const config = loadConfig({
      DATABASE_URL: database.url,
      SECRET_KEY: secretKey,
      BCRYPT_COST: process.env.BCRYPT_COST,
    });
    const handle = createDatabase(config);
    await migrateToLatest(handle.db);
    const password = `bench-${randomUUID()}`;
    const email = `bench-${randomUUID()}@example.com`;
    const user = await handle.db
      .insertInto('user')
      .values({
        email,
        full_name: 'Bench',
        hashed_password: await hashPassword(password, config.auth.bcryptCost),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const items = await handle.db
      .insertInto('item')
      .values(
        Array.from({ length: 100 }, (_, i) => ({
          title: `item ${i}`,
          description: 'x'.repeat(100),
          owner_id: user.id,
        })),
      )
      .returning('id')
      .execute();
    await handle.close();
    log(`database ready (bcrypt cost ${config.auth.bcryptCost}, 100 items)`);

    // Every function as it runs in production, except that the rate limits are set out of the load's way (one
    // client address sends everything here); they still run on every request.
    const functionEnv = {
      DATABASE_URL: database.url,
      SECRET_KEY: secretKey,
      LOG_LEVEL: 'info',
      DATA_DIR: dataDir,
      BCRYPT_COST: String(config.auth.bcryptCost),
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOGIN_RATE_LIMIT_PER_ACCOUNT: '10000',
      LOGIN_RATE_LIMIT_PER_ADDRESS: '100000',
    };

    // --- Cold starts ---------------------------------------------------------------------------------------
    const names = functionNames();
    // Nothing listens there: spans wait for a collector that never answers, which must not slow the first response.
    const closedPort = String(await freePort());
    const otelEnv = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}` };
    const subjects: { key: string; entry: string; path: string; env: Record<string, string> }[] = [
      { key: 'bare', entry: bench('baselines/bare-http.mjs'), path: '/', env: {} },
      ...names.flatMap((name) => {
        const entry = join(root, 'dist', 'functions', name, 'index.mjs');
        const path = CHEAPEST_ROUTE[name] ?? `/api/${name}/cold-start-probe`;
        return [
          { key: `${name}`, entry, path, env: functionEnv },
          { key: `${name}+otel`, entry, path, env: { ...functionEnv, ...otelEnv } },
        ];
      }),
      {
        key: 'health:no-code-cache',
        entry: withoutCodeCache('health'),
        path: CHEAPEST_ROUTE.health!,
        env: functionEnv,
      },
      {
        key: 'health:plain-esm',
        entry: await buildPlainEsmVariant('health'),
        path: CHEAPEST_ROUTE.health!,
        env: functionEnv,
      },
    ];
    for (const name of VARIANT_FUNCTIONS) {
      const path = CHEAPEST_ROUTE[name]!;
      const variants: [label: string, flags: string[]][] = [
        ['launcher-compile-cache', ['--launcher=compile-cache']],
        ...interventions.map((i): [string, string[]] => [`without-${i}`, [`--without=${i}`]]),
      ];
      for (const [label, flags] of variants) {
        subjects.push({
          key: `${name}:${label}`,
          entry: await buildVariant(name, label, flags),
          path,
          env: functionEnv,
        });
        log(`built ${name}:${label}`);
      }
    }
    const cold = new Map<string, ColdStart[]>(subjects.map((s) => [s.key, []]));
    for (const subject of subjects) await coldStart(subject.entry, subject.path, subject.env); // disk cache warm
    for (let round = 1; round <= COLD_ROUNDS; round++) {
      for (const subject of shuffled(subjects)) {
        cold.get(subject.key)!.push(await coldStart(subject.entry, subject.path, subject.env));
      }
      log(`cold starts: round ${round}/${COLD_ROUNDS}`);
    }

    // --- Servers for throughput and logins ------------------------------------------------------------------
    const start = (args: string[], env: Record<string, string>, ready: string) =>
      startServer(args, env, ready).then((server) => {
        servers.push(server);
        return server;
      });
    const itemsServer = await start(
      [join(root, 'dist/functions/items/index.mjs')],
      functionEnv,
      '/api/items/',
    );
    const authServer = await start(
      [join(root, 'dist/functions/auth/index.mjs')],
      functionEnv,
      '/api/auth/jwks.json',
    );
    const hello = await start([bench('baselines/fastify-hello.mjs')], {}, '/hello');
    const plainPg = await start([bench('baselines/plain-pg.mjs')], { DATABASE_URL: database.url }, '/items/');

    const login = () =>
      request(authServer.port, '/api/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'password', username: email, password }).toString(),
      });
    const first = await login();
    if (first.status !== 200) throw new Error(`login answered ${first.status}: ${first.body}`);
    const token = (JSON.parse(first.body) as { access_token: string }).access_token;
    const auth = { authorization: `Bearer ${token}` };
    const itemId = items[0]!.id;

    // --- Throughput ------------------------------------------------------------------------------------------
    const runs: { key: string; port: number; path: string; headers?: Record<string, string> }[] = [
      { key: 'hello', port: hello.port, path: '/hello' },
      { key: 'item', port: itemsServer.port, path: `/api/items/${itemId}`, headers: auth },
      { key: 'item:plain-pg', port: plainPg.port, path: `/items/${itemId}` },
      { key: 'list', port: itemsServer.port, path: '/api/items/?limit=20', headers: auth },
      { key: 'list:plain-pg', port: plainPg.port, path: `/items/?owner=${user.id}&limit=20` },
    ];
    const throughput = new Map<string, LoadResult[]>(runs.map((r) => [r.key, []]));
    for (const run of runs)
      await load(run.port, run.path, { connections: CONNECTIONS, seconds: 1, headers: run.headers });
    for (let round = 1; round <= LOAD_ROUNDS; round++) {
      for (const run of shuffled(runs)) {
        const result = await load(run.port, run.path, {
          connections: CONNECTIONS,
          seconds: LOAD_SECONDS,
          headers: run.headers,
        });
        if (result.errors > 0) throw new Error(`${run.key}: ${result.errors} failed requests`);
        throughput.get(run.key)!.push(result);
      }
      log(`throughput: round ${round}/${LOAD_ROUNDS}`);
    }

    // --- Logins, and the event loop meanwhile ----------------------------------------------------------------
    const loginMs: number[] = [];
    for (let i = 0; i < (quick ? 4 : 10); i++) {
      const started = performance.now();
      const reply = await login();
      if (reply.status !== 200) throw new Error(`login answered ${reply.status}`);
      loginMs.push(performance.now() - started);
    }
    // One process serving both auth and health (the local all-in-one server): the logins' bcrypt and the
    // liveness probe then share one event loop, which is what this measures.
    const local = await start([join(root, 'dist/local/start.mjs')], functionEnv, '/api/health/live');
    const idle = await probe(local.port, '/api/health/live', quick ? 1.5 : 3, 5);
    let storming = true;
    let stormLogins = 0;
    const storm = Array.from({ length: 4 }, async () => {
      while (storming) {
        const reply = await request(local.port, '/api/auth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: email, password }).toString(),
        });
        if (reply.status !== 200) throw new Error(`login during the storm answered ${reply.status}`);
        stormLogins++;
      }
    });
    const during = await probe(local.port, '/api/health/live', quick ? 2 : 5, 5);
    storming = false;
    await Promise.all(storm);

    const results: Results = {
      date: new Date().toISOString(),
      machine: `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}`,
      loadAverage: loadAverage.map((l) => l.toFixed(1)).join(' / '),
      node: process.version,
      database: process.env.DATABASE_URL
        ? 'DATABASE_URL (a fresh database on that server)'
        : 'embedded PostgreSQL',
      bcryptCost: config.auth.bcryptCost,
      coldRounds: COLD_ROUNDS,
      cold: Object.fromEntries(
        [...cold].map(([key, samples]) => [
          key,
          {
            ms: median(samples.map((s) => s.ms)),
            // Each round measures every subject once, bare included: a ratio per round, so that the machine's
            // drift between rounds cancels, and their median.
            ratio: median(samples.map((s, round) => s.ms / cold.get('bare')![round]!.ms)),
            rssMiB: median(samples.map((s) => s.rssMiB ?? Number.NaN)),
            bytesRead: median(samples.map((s) => s.bytesRead ?? Number.NaN)),
            // Against the shipped build of the same function in the same round (variants only).
            vsShipped: key.includes(':')
              ? median(samples.map((s, round) => s.ms / cold.get(key.split(':')[0]!)![round]!.ms))
              : undefined,
            status: samples[0]!.status,
          },
        ]),
      ),
      coldPaths: Object.fromEntries(subjects.map((s) => [s.key.replace(/\+otel$/, ''), s.path])),
      functions: names,
      variantFunctions: VARIANT_FUNCTIONS,
      interventions,
      sizes: Object.fromEntries(names.map((name) => [name, sizes(name)])),
      load: {
        connections: CONNECTIONS,
        seconds: LOAD_SECONDS,
        rounds: LOAD_ROUNDS,
        runs: Object.fromEntries(
          [...throughput].map(([key, samples]) => [
            key,
            {
              requestsPerSecond: median(samples.map((s) => s.requestsPerSecond)),
              p99: median(samples.map((s) => s.p99)),
            },
          ]),
        ),
      },
      login: { medianMs: median(loginMs), maxMs: Math.max(...loginMs), samples: loginMs.length },
      liveness: {
        idleP99: quantile(idle, 0.99),
        stormP99: quantile(during, 0.99),
        stormLogins,
        stormSeconds: quick ? 2 : 5,
      },
      durationSeconds: (performance.now() - began) / 1000,
    };
    writeFileSync(resultsFile, renderResults(results));
    log(`\n${renderResults(results, { summaryOnly: true })}`);
    for (const server of servers.splice(0)) await server.stop();
    await scaleSection(database.url, functionEnv);
    log(`written to ${resultsFile} in ${((performance.now() - began) / 1000).toFixed(0)} s`);
  } finally {
    for (const server of servers) await server.stop();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
// Exit now: embedded-postgres's exit hook (local/embedded-postgres.ts keeps it) throws after a natural exit.
process.exit(0);
