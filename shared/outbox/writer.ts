import type { Db } from '../db/index.ts';
import type { AppContext } from '../http/context.ts';
import type { OutboxRelay } from './relay.ts';
import type { OutboxRow } from './store.ts';

/** How long shutdown may spend delivering what is left; SIGTERM must end well within 10 s. */
export const SHUTDOWN_FLUSH_MS = 3_000;

/**
 * The writing side of an outbox (item events, mail): a row is recorded in the transaction of its cause, and
 * the relay is woken once that transaction has committed, never before.
 */
export interface OutboxWriter<R extends OutboxRow, T> {
  /** Writes the row with the change: pass the transaction that makes it. */
  record(trx: Db, item: T): Promise<void>;
  /** After commit: deliver soon, in the background. Returns at once; never awaited by a request. */
  afterCommit(): void;
  /** Delivers what a previous instance left behind; cheap to call more than once. */
  start(): void;
  /** The relay (tests wait on it). */
  readonly relay: OutboxRelay<R>;
}

/** Wires a relay to its table's insert and to the context's shutdown, which gives it time to deliver. */
export function outboxWriter<R extends OutboxRow, T>(
  ctx: AppContext,
  relay: OutboxRelay<R>,
  insert: (trx: Db, item: T) => Promise<unknown>,
): OutboxWriter<R, T> {
  ctx.onClose(() => relay.close(SHUTDOWN_FLUSH_MS));
  let started = false;
  const wake = () => {
    started = true;
    relay.wake();
  };
  return {
    relay,
    async record(trx, item) {
      await insert(trx, item);
    },
    afterCommit: wake,
    start() {
      if (!started) wake();
    },
  };
}
