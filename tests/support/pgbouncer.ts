import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../local/embedded-postgres.ts';
import { serverUser } from './os-user.ts';
import { acceptsConnections } from './tcp-proxy.ts';

/** Debian's package (installed by .ci/run when missing). */
export const PGBOUNCER = '/usr/sbin/pgbouncer';

/** The Pooler's settings (terraform/manifests/cnpg-pooler.yaml.tftpl), which the tests start PgBouncer with. */
export interface PoolerSettings {
  maxClientConn: number;
  defaultPoolSize: number;
}

/** What the manifest sets besides the two sizes, read from it so the test and production cannot differ. */
export function poolerManifestParameters(): { poolMode: string; ignoreStartupParameters: string } {
  const manifest = readFileSync('terraform/manifests/cnpg-pooler.yaml.tftpl', 'utf8');
  const poolMode = /poolMode:\s*(\S+)/.exec(manifest)?.[1];
  const ignoreStartupParameters = /ignore_startup_parameters:\s*(\S+)/.exec(manifest)?.[1];
  if (!poolMode || !ignoreStartupParameters)
    throw new Error('the Pooler manifest lost its pgbouncer settings');
  return { poolMode, ignoreStartupParameters };
}

export interface RunningPgBouncer {
  port: number;
  /** `postgresql://user@127.0.0.1:port/database` through PgBouncer. */
  url(user: string, database: string): string;
  /** Everything PgBouncer logged so far. */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts PgBouncer in front of `server` (host and port of a PostgreSQL) as the Pooler runs it, with the
 * manifest's pool mode and ignored startup parameters. `users` maps each login to its password: PgBouncer
 * lets clients in without checking (the test's clients are trusted) and logs in to PostgreSQL with it.
 */
export async function startPgBouncer(
  server: { host: string; port: number },
  users: Record<string, string>,
  settings: PoolerSettings,
): Promise<RunningPgBouncer> {
  const { poolMode, ignoreStartupParameters } = poolerManifestParameters();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fs-pgbouncer-'));
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  writeFileSync(
    join(dir, 'userlist.txt'),
    Object.entries(users)
      .map(([user, password]) => `${quote(user)} ${quote(password)}\n`)
      .join(''),
  );
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=${server.host} port=${server.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${poolMode}`,
      `max_client_conn = ${settings.maxClientConn}`,
      `default_pool_size = ${settings.defaultPoolSize}`,
      `ignore_startup_parameters = ${ignoreStartupParameters}`,
      // A server that vanishes is noticed at once rather than after the default 15 s.
      'server_connect_timeout = 2',
      'server_login_retry = 1',
      '',
    ].join('\n'),
  );
  const user = serverUser();
  if (user) {
    for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, file), user.uid, user.gid);
    chmodSync(dir, 0o700);
  }
  const child: ChildProcess = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(user ?? {}),
  });
  let log = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log += chunk));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await acceptsConnections(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`PgBouncer did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    url: (login, database) => `postgresql://${encodeURIComponent(login)}@127.0.0.1:${port}/${database}`,
    log: () => log,
    stop,
  };
}
