import type { FastifyInstance } from 'fastify';
import { afterFirstResponse } from '../http/after-first-response.ts';
import type { AppContext } from '../http/context.ts';
import { type BatchOptions, PURGE_BATCH_SIZE, PURGE_MAX_BATCHES } from './batched-delete.ts';
import type { Db } from './index.ts';

/**
 * Each function drops the expiring rows of the tables it owns on a schedule of its own (functions/<name>/
 * housekeeping.ts), never on a request's path and whatever else is configured (no SMTP server, no event sink):
 * a first pass shortly after the instance's first answer, then one every PURGE_EVERY_MS. Every purge deletes in
 * short batches with SKIP LOCKED (shared/db/batched-delete.ts), so instances purging at once share the work.
 */

/** How often an instance purges. */
export const PURGE_EVERY_MS = 60 * 60 * 1000;
/** How long a delivered outbox row, a spent or expired e-mail token, is kept. */
export const KEEP_DELIVERED_HOURS = 24;
/** A pass that stopped at its batch cap is followed this soon, so a backlog drains in steps, not in one go. */
export const PURGE_CATCH_UP_MS = 30_000;

/** One kind of expiring row: `run` deletes what is past its retention and returns how many went. */
export interface Purge {
  /** Names it in log lines; a purge registered twice on one context (several functions in one process) runs once. */
  name: string;
  run(db: Db, options: BatchOptions): Promise<number>;
}

export interface HousekeepingOptions {
  /** Between two passes (tests make it short). */
  everyMs?: number;
}

const scheduled = new WeakMap<AppContext, Map<string, Purge>>();

/** Runs `purges` on this context's schedule, starting it on first use; stops on `ctx.close()`. */
export function housekeeping(
  app: FastifyInstance,
  ctx: AppContext,
  purges: Purge[],
  { everyMs = PURGE_EVERY_MS }: HousekeepingOptions = {},
): void {
  const known = scheduled.get(ctx);
  if (known) {
    for (const purge of purges) known.set(purge.name, purge);
    return;
  }
  const registered = new Map(purges.map((purge) => [purge.name, purge]));
  scheduled.set(ctx, registered);
  const stop = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const pass = async () => {
    let capped = false;
    const purged: Record<string, number> = {};
    for (const purge of registered.values()) {
      if (stop.signal.aborted) return;
      try {
        const deleted = await purge.run(ctx.db, { signal: stop.signal });
        if (deleted > 0) purged[purge.name] = deleted;
        if (deleted >= PURGE_BATCH_SIZE * PURGE_MAX_BATCHES) capped = true;
      } catch (error) {
        // The next pass tries again; the other purges still run.
        ctx.log.warn({ err: error, purge: purge.name }, 'purge failed');
      }
    }
    if (Object.keys(purged).length > 0) ctx.log.info({ purged }, 'purged expired rows');
    if (stop.signal.aborted) return;
    // unref: a pending pass must never keep a process alive that is otherwise done.
    timer = setTimeout(run, capped ? Math.min(PURGE_CATCH_UP_MS, everyMs) : everyMs).unref();
  };
  const run = () => {
    running = pass().finally(() => {
      running = undefined;
    });
  };

  afterFirstResponse(app, run);
  // Stops between two batches: the rows left wait for the next instance's pass.
  ctx.onClose(async () => {
    stop.abort();
    clearTimeout(timer);
    await running;
  });
}
