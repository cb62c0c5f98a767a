import { execFile } from 'node:child_process';
import { appendFileSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../local/embedded-postgres.ts';
import { serverUser } from './os-user.ts';

/** Debian's PostgreSQL 15 server binaries (package postgresql-15, installed by .ci/run when missing). */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

const run = promisify(execFile);

export interface ClusterNode {
  name: string;
  port: number;
  dataDir: string;
  url(database?: string): string;
}

export interface ReplicatedPair {
  primary: ClusterNode;
  standby: ClusterNode;
  /** SIGKILL for the primary's postmaster and every one of its processes at once: the node is gone. */
  killPrimary(): void;
  /** `pg_ctl promote`, resolved once the standby accepts writes. */
  promoteStandby(): Promise<void>;
  /** Stops whatever still runs and removes the data directories. */
  destroy(): Promise<void>;
}

/** A directory owned by the servers' user, and how to run PostgreSQL's tools in it as that user. */
function workspace(prefix: string) {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const user = serverUser();
  if (user) chownSync(root, user.uid, user.gid);
  const as = { ...(user ?? {}), cwd: root, env: { PATH: process.env.PATH, LC_ALL: 'C' } };
  const tool = (name: string, ...args: string[]) =>
    run(name.startsWith('/') ? name : join(PG_BIN, name), args, as);
  const node = (name: string, port: number): ClusterNode => ({
    name,
    port,
    dataDir: join(root, name),
    url: (database = 'postgres') => `postgresql://postgres@127.0.0.1:${port}/${database}`,
  });
  const started: ClusterNode[] = [];
  const start = async (instance: ClusterNode) => {
    appendFileSync(
      join(instance.dataDir, 'postgresql.conf'),
      [
        '',
        "listen_addresses = '127.0.0.1'",
        `port = ${instance.port}`,
        `unix_socket_directories = '${root}'`,
        // Throwaway data; a SIGKILL of the server keeps what the kernel has, so fsync changes nothing here.
        'fsync = off',
        'shared_buffers = 16MB',
        'max_connections = 60',
        '',
      ].join('\n'),
    );
    await tool('pg_ctl', 'start', '-D', instance.dataDir, '-l', `${instance.dataDir}.log`, '-w', '-t', '60');
    started.push(instance);
  };
  const destroy = async () => {
    for (const instance of started.splice(0))
      await tool('pg_ctl', 'stop', '-D', instance.dataDir, '-m', 'immediate', '-w').catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  return { tool, node, start, destroy };
}

export interface ClusterTemplate {
  dataDir: string;
  destroy(): Promise<void>;
}

/**
 * A stopped, initialised data directory to copy each primary from (initdb and the migrations once per file,
 * not per scenario). `prepare` runs on it while it is up.
 */
export async function createClusterTemplate(
  prepare: (url: (database?: string) => string) => Promise<void>,
): Promise<ClusterTemplate> {
  const space = workspace('fs-pg-template-');
  try {
    const template = space.node('template', await freePort());
    await space.tool(
      'initdb',
      ...['-D', template.dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '-N'],
    );
    await space.start(template);
    await prepare(template.url);
    await space.tool('pg_ctl', 'stop', '-D', template.dataDir, '-m', 'fast', '-w');
    return { dataDir: template.dataDir, destroy: space.destroy };
  } catch (error) {
    await space.destroy();
    throw error;
  }
}

/**
 * A primary (a copy of `template`) and a streaming standby made from it with pg_basebackup -R, on free ports,
 * in a temporary directory, as CloudNativePG runs its instances. With `synchronous`, a commit returns only
 * once the standby has it (synchronous_standby_names); without, replication is asynchronous, CNPG's default.
 */
export async function startReplicatedPair(options: {
  synchronous: boolean;
  template: ClusterTemplate;
}): Promise<ReplicatedPair> {
  const space = workspace('fs-failover-');
  try {
    const primary = space.node('primary', await freePort());
    await space.tool('/bin/cp', '-a', options.template.dataDir, primary.dataDir);
    await space.start(primary);
    const standby = space.node('standby', await freePort());
    await space.tool(
      'pg_basebackup',
      ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', standby.dataDir],
      ...['-R', '-X', 'stream', '-c', 'fast'],
    );
    await space.start(standby);
    // Synchronous only once there is a standby to wait for (before, every commit would wait forever); the
    // standby was copied without it, so once promoted, alone, it does not wait for one either.
    if (options.synchronous) {
      await query(primary, "alter system set synchronous_standby_names = '*'");
      await query(primary, 'select pg_reload_conf()');
    }
    await waitForStreaming(primary, options.synchronous);

    return {
      primary,
      standby,
      killPrimary() {
        const postmaster = Number(
          readFileSync(join(primary.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
        );
        for (const pid of [postmaster, ...childrenOf(postmaster)]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      },
      async promoteStandby() {
        await space.tool('pg_ctl', 'promote', '-D', standby.dataDir, '-w', '-t', '30');
      },
      destroy: space.destroy,
    };
  } catch (error) {
    await space.destroy();
    throw error;
  }
}

function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        // The parent pid is the 4th field, after the command in parentheses (which may contain spaces).
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === parent;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function query(node: ClusterNode, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: node.url() });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function waitForStreaming(primary: ClusterNode, synchronous: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: primary.url() });
  await client.connect();
  try {
    for (let i = 0; i < 300; i++) {
      const { rows } = await client.query<{ sync_state: string }>(
        "select sync_state from pg_stat_replication where state = 'streaming'",
      );
      if (rows.some((r) => !synchronous || r.sync_state === 'sync')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the standby never started streaming');
  } finally {
    await client.end();
  }
}
