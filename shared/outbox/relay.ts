import type { Db } from '../db/index.ts';
import type { Logger } from '../telemetry/logger.ts';
import type { OutboxRow, OutboxStore } from './store.ts';

/**
 * Delivers an outbox in the background: never on a request's path, so a destination that is down, slow or
 * refusing costs a request nothing. At-least-once: a row is marked delivered only after its destination took
 * it, so the rare repeat (a crash between the destination's answer and the mark) is possible and a loss is not.
 * The item events (shared/events) and the mail (shared/mail) each run one over their own table.
 */

const BATCH_SIZE = 50;
/** How long a claim keeps other instances off a batch; a batch stops early rather than outlive it. */
const LEASE_MS = 30_000;

/** Exponential backoff with jitter: between half and all of min(max, base * 2^(attempt-1)). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Why a row was not delivered. */
export interface DeliveryFailure {
  reason: string;
  /**
   * The destination itself is failing (down, refusing, timing out): the rest of the batch waits for the same
   * backoff rather than each row trying in turn. False when only this row was refused.
   */
  destinationDown: boolean;
}

export interface RelayOptions<R extends OutboxRow> {
  /** What a row is, in log lines: "event", "mail". */
  kind: string;
  store: OutboxStore<R>;
  /** Delivers one row; undefined when the destination took it. Must give up when `signal` aborts. */
  send(row: R, signal: AbortSignal): Promise<DeliveryFailure | undefined>;
  /** The longest one send may take (the lease leaves room for it). */
  sendTimeoutMs: number;
  /** The database, resolved when first needed (the pool is lazy). */
  db: () => Db;
  log: Logger;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Where the relay reports to its metrics. */
  observe: {
    attempt(result: 'success' | 'failure'): void;
    /** Rows waiting, as of the last pass. */
    pending(count: number): void;
    delivered?(row: R): void;
  };
  /** Fields that name a row in log lines (never its content). */
  describe(row: R): Record<string, unknown>;
}

type BatchOutcome = 'idle' | 'done' | 'more' | 'failed';

export class OutboxRelay<R extends OutboxRow> {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /**
   * Claims whose outcome the database never recorded because it went away mid-batch (a failover): the
   * destination took `accepted`, and `untried` were never sent. The next pass records both first, so a failover
   * neither resends the accepted ones nor leaves the rest leased for the full LEASE_MS.
   */
  private readonly unsettled = { accepted: new Set<string>(), untried: new Set<string>(), claimedAt: 0 };
  /** Aborts sends still in flight when the shutdown budget runs out. */
  private readonly shutdown = new AbortController();

  constructor(private readonly options: RelayOptions<R>) {}

  /** Deliver what is due, soon; returns at once. Called after a commit, on start, and by the retry timer. */
  wake(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.again) this.wake();
    });
  }

  /** Resolves when no pass is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * Shutdown: one last pass for what the final requests wrote, bounded by `budgetMs` (sends still in flight
   * then are aborted and stay in the outbox for the next instance). Never waits on the destination beyond it.
   */
  async close(budgetMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const abortAt = setTimeout(() => this.shutdown.abort(), budgetMs);
    const work = (async () => {
      while (this.running) await this.running;
      if (!this.shutdown.signal.aborted) await this.run();
    })();
    // The database, unlike a send, cannot be aborted: give it a little beyond the budget, then stop waiting.
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((r) => (giveUp = setTimeout(r, budgetMs + 1_000)))]);
    clearTimeout(abortAt);
    clearTimeout(giveUp);
  }

  private async run(): Promise<void> {
    const { log, kind } = this.options;
    try {
      for (;;) {
        this.again = false;
        const outcome = await this.deliverBatch();
        if (this.shutdown.signal.aborted) return;
        if (outcome === 'more') continue;
        if (outcome === 'failed' || !this.again) break;
      }
      if (this.closed) return;
      await this.scheduleNext();
    } catch (error) {
      // The database is unreachable: the rows are safe in it; try again later.
      log.warn({ err: error }, `${kind} delivery paused: the outbox cannot be read`);
      this.retryIn(Math.min(this.options.retryMaxMs, 5_000));
    }
  }

  private async deliverBatch(): Promise<BatchOutcome> {
    const { store, observe, retryBaseMs, retryMaxMs, sendTimeoutMs } = this.options;
    const db = this.options.db();
    await this.settle(db);
    const claimedAt = Date.now();
    const rows = await store.claimDue(db, BATCH_SIZE, LEASE_MS);
    if (rows.length === 0) return 'idle';
    const { accepted, untried } = this.unsettled;
    this.unsettled.claimedAt = claimedAt;
    for (const row of rows) untried.add(row.seq);
    let failed = false;
    for (const [index, row] of rows.entries()) {
      if (Date.now() - claimedAt > LEASE_MS - sendTimeoutMs - 1_000) {
        // The lease is nearly up: give the rest back rather than risk another instance sending them too.
        await store.release(db, seqsFrom(rows, index), 0);
        untried.clear();
        return 'more';
      }
      const failure = await this.options.send(row, this.shutdown.signal);
      untried.delete(row.seq);
      if (failure === undefined) {
        accepted.add(row.seq);
        await store.markDelivered(db, [row.seq]);
        accepted.delete(row.seq);
        observe.attempt('success');
        observe.delivered?.(row);
        continue;
      }
      observe.attempt('failure');
      const delay = retryDelayMs(row.attempts + 1, retryBaseMs, retryMaxMs);
      await store.markFailed(db, row.seq, delay, failure.reason);
      this.options.log.warn(
        {
          ...this.options.describe(row),
          attempts: row.attempts + 1,
          retry_in_ms: delay,
          reason: failure.reason,
        },
        `${this.options.kind} delivery failed; will retry`,
      );
      if (failure.destinationDown || this.shutdown.signal.aborted) {
        // The rest of the batch waits behind this row for the same backoff.
        await store.release(db, seqsFrom(rows, index + 1), delay);
        untried.clear();
        return 'failed';
      }
      failed = true;
    }
    if (failed) return 'failed';
    return rows.length === BATCH_SIZE ? 'more' : 'done';
  }

  /** Records what an interrupted batch left unrecorded (see `unsettled`), before claiming anything new. */
  private async settle(db: Db): Promise<void> {
    const { accepted, untried } = this.unsettled;
    if (accepted.size > 0) {
      await this.options.store.markDelivered(db, [...accepted]);
      accepted.clear();
    }
    // Past the lease another instance may hold them now: giving them back would let a third send them too.
    if (untried.size > 0 && Date.now() - this.unsettled.claimedAt < LEASE_MS)
      await this.options.store.release(db, [...untried], 0);
    untried.clear();
  }

  private async scheduleNext(): Promise<void> {
    const { count, nextDueInMs } = await this.options.store.pending(this.options.db());
    this.options.observe.pending(count);
    if (nextDueInMs !== undefined) this.retryIn(nextDueInMs + 10);
  }

  private retryIn(ms: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    // unref: a pending retry must never keep a process alive that is otherwise done.
    this.timer = setTimeout(() => this.wake(), ms).unref();
  }
}

function seqsFrom(rows: OutboxRow[], start: number): string[] {
  return rows.slice(start).map((row) => row.seq);
}

/** A row's stored trace context as a span parent: its delivery is drawn in the trace of the request that wrote it. */
export function storedParent(row: OutboxRow) {
  return row.traceparent
    ? { traceparent: row.traceparent, tracestate: row.tracestate ?? undefined }
    : undefined;
}
