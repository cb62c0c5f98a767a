import {
  type Compilable,
  type CompiledQuery,
  Kysely,
  type LogEvent,
  PostgresDialect,
  type PostgresPool,
} from 'kysely';
import type pg from 'pg';
import type { Config } from '../config.ts';
import type { Database } from './schema.ts';

export type { Database } from './schema.ts';
export type Db = Kysely<Database>;

export interface DatabaseHandle {
  db: Db;
  /** The pool once the first query has made it (metrics read it without making one). */
  readonly pool: pg.Pool | undefined;
  close(): Promise<void>;
}

/**
 * One pool per process, made by the first query: pg is imported then, so a function that scales from zero
 * neither loads the driver nor connects until a request needs the database.
 */
export function createDatabase(
  config: Config,
  onPoolError?: (error: Error) => void,
  /** Called after every statement (tracing draws a span from it); unset, Kysely does no bookkeeping. */
  onQuery?: (event: LogEvent) => void,
): DatabaseHandle {
  if (!config.database.url) throw new Error('DATABASE_URL is not set');
  let pool: pg.Pool | undefined;
  const makePool = async (): Promise<PostgresPool> => {
    const { default: pg } = await import('pg');
    pool = new pg.Pool({
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
    // The pool listens only to idle clients. A checked-out client whose server goes away between two queries
    // emits 'error' on itself, which would crash the process: listen there too (its next query fails, and
    // that failure becomes the client's 503).
    pool.on('connect', (client) => {
      client.on('error', (error) => onPoolError?.(error));
    });
    return boundedQueue(pool, config.database.poolMax, config.database.poolQueueMax);
  };
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: makePool }),
    ...(onQuery && { log: onQuery }),
  });
  let closed = false;
  return {
    db,
    get pool() {
      return pool;
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}

/** Thrown instead of queueing when every connection is busy and the wait queue is full; clients get a 503. */
export class DatabaseBusyError extends Error {
  readonly code = 'DB_POOL_QUEUE_FULL';
  constructor(waiting: number) {
    super(`every database connection is busy and ${waiting} requests already wait for one`);
    this.name = 'DatabaseBusyError';
  }
}

/**
 * pg.Pool queues without limit: under overload every request waits its full connect timeout and latency grows
 * for everyone. Past `queueMax` waiters a request is refused at once, so the excess gets a quick 503 and
 * those already queued still finish in time.
 */
function boundedQueue(pool: pg.Pool, poolMax: number, queueMax: number): PostgresPool {
  return {
    connect() {
      const saturated = pool.totalCount >= poolMax && pool.idleCount === 0;
      if (saturated && pool.waitingCount >= queueMax)
        return Promise.reject(new DatabaseBusyError(pool.waitingCount));
      return pool.connect();
    },
    end: () => pool.end(),
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
  // PgBouncer's own refusals (max_client_conn reached, no server reachable, query_wait_timeout) all come as
  // protocol_violation, as does a server connection it drops.
  '08P01',
  // A write that reaches a standby: mid-failover, before the -rw Service points at the promoted one.
  '25006', // read_only_sql_transaction
  // Reachable but unable to answer in time: statement_timeout, a lock wait, a deadlock or serialization
  // victim. Transient, so a 503 to retry rather than a 500.
  '57014', // query_canceled
  '55P03', // lock_not_available
  '40P01', // deadlock_detected
  '40001', // serialization_failure
]);

/** True when an error means "the database cannot serve this right now", which clients see as a 503. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Client has encountered a connection error|Connection ended unexpectedly/i.test(
    error.message,
  );
}

/**
 * A statement Kysely builds and compiles once, then runs with new values. Building is most of what Kysely costs
 * a request (an immutable tree of nodes per call, then compiled to text: ≈ 7 % of the CPU profile of the items
 * list), and a statement whose shape never changes need not pay it again. `build` gets a placeholder for each
 * value and uses it where the value goes; every run swaps them for the values given. A placeholder is a symbol,
 * which pg refuses, so one left unswapped fails loudly.
 */
export function compiledOnce<V extends Record<string, unknown>, R>(
  names: readonly (keyof V & string)[],
  build: (db: Db, values: V) => Compilable<R>,
): (db: Db, values: V) => Promise<R[]> {
  const placeholders = Object.fromEntries(names.map((name) => [name, Symbol(name)])) as unknown as V;
  let compiled: CompiledQuery<R> | undefined;
  let slots: ((values: V) => unknown)[] = [];
  return async (db, values) => {
    if (!compiled) {
      compiled = build(db, placeholders).compile();
      slots = compiled.parameters.map((parameter) => {
        const name = names.find((n) => placeholders[n] === parameter);
        return name === undefined ? () => parameter : (given: V) => given[name];
      });
    }
    const result = await db.executeQuery<R>({
      ...compiled,
      parameters: slots.map((slot) => slot(values)),
    });
    return result.rows;
  };
}
