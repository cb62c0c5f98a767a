import { Kysely, type LogEvent, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Config } from '../config.ts';
import type { Database } from './schema.ts';

export type { Database } from './schema.ts';
export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  pool: pg.Pool;
  close(): Promise<void>;
}

/**
 * One pool per process. Creating it opens nothing: the first query connects, so a function that scales from
 * zero pays for the database only when a request needs it.
 */
export function createDatabase(
  config: Config,
  onPoolError?: (error: Error) => void,
  /** Called after every statement (tracing draws a span from it); unset, Kysely does no bookkeeping. */
  onQuery?: (event: LogEvent) => void,
): DatabaseHandle {
  if (!config.database.url) throw new Error('DATABASE_URL is not set');
  const pool = new pg.Pool({
    connectionString: config.database.url,
    max: config.database.poolMax,
    connectionTimeoutMillis: config.database.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.database.statementTimeoutMs,
    // Knative may freeze an idle pod; keepalive notices dead connections after it thaws.
    keepAlive: true,
  });
  // An idle client losing its server (failover, restart) emits here; without a listener the process would die.
  pool.on('error', (error) => onPoolError?.(error));
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    ...(onQuery && { log: onQuery }),
  });
  let closed = false;
  return {
    db,
    pool,
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
  '53300', // too_many_connections
]);

/** True when an error means "the database cannot be reached right now", which clients see as a 503. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error|Connection ended unexpectedly/i.test(
    error.message,
  );
}
