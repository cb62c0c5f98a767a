import { createCache } from '../cache/index.ts';
import type { Cache } from '../cache/types.ts';
import type { Config } from '../config.ts';
import { createDatabase, type DatabaseHandle, type Db } from '../db/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import { currentTracing } from '../telemetry/tracing.ts';

type CloseHook = () => Promise<void> | void;

/**
 * What a handler needs from the process: config, logger, database, cache. The database pool and the cache
 * client are made on first use, so a function whose first request needs neither never pays for them.
 */
export interface AppContext {
  readonly functionName: string;
  readonly config: Config;
  readonly log: Logger;
  readonly db: Db;
  readonly cache: Cache;
  /** The pool, if one was made (health checks and metrics read it without creating one). */
  readonly database: DatabaseHandle | undefined;
  /** Work to finish on shutdown, after the server stops accepting (flush events, spans...). */
  onClose(hook: CloseHook): void;
  close(): Promise<void>;
}

export interface ContextOverrides {
  database?: DatabaseHandle;
  cache?: Cache;
}

export function createContext(
  functionName: string,
  config: Config,
  log: Logger,
  overrides: ContextOverrides = {},
): AppContext {
  let database = overrides.database;
  let cache = overrides.cache;
  const hooks: CloseHook[] = [];
  let closing: Promise<void> | undefined;
  return {
    functionName,
    config,
    log,
    get db() {
      if (!database) {
        const tracing = currentTracing();
        database = createDatabase(
          config,
          // Only the message and code: the error carries the whole pg client otherwise.
          (error) =>
            log.warn(
              { code: (error as { code?: string }).code, reason: error.message },
              'database connection lost',
            ),
          tracing && ((event) => tracing.recordQuery(event)),
        );
      }
      return database.db;
    },
    get cache() {
      if (!cache) {
        // Every cache call becomes a span when tracing is on, whichever implementation is configured.
        const tracing = currentTracing();
        const created = createCache(config, log, functionName);
        cache = tracing ? tracing.traceCache(created) : created;
      }
      return cache;
    },
    get database() {
      return database;
    },
    onClose(hook) {
      hooks.push(hook);
    },
    close() {
      closing ??= (async () => {
        // Hooks first (they may still write to the database), then the pool and the cache.
        for (const hook of hooks.reverse()) {
          try {
            await hook();
          } catch (error) {
            log.error({ err: error }, 'shutdown hook failed');
          }
        }
        if (!overrides.database) await database?.close();
        if (!overrides.cache) await cache?.close();
      })();
      return closing;
    },
  };
}
