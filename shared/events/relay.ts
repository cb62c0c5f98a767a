import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';
import type { Logger } from '../telemetry/logger.ts';
import { counter, gauge } from '../telemetry/metrics.ts';
import { injectTraceHeaders, withSpan } from '../telemetry/tracing.ts';
import { toBinaryMessage } from './cloudevent.ts';
import {
  claimDueEvents,
  markDelivered,
  markFailed,
  pendingEvents,
  purgeDeliveredEvents,
  releaseEvents,
} from './outbox-store.ts';

/**
 * Delivers the outbox to the sink in the background: never on a request's path, so a sink that is down, slow
 * or answering 5xx costs a request nothing. At-least-once: an event is marked delivered only after the sink
 * accepted it, and every retry carries the same ce-id, so receivers de-duplicate the rare repeat (a crash
 * between the sink's answer and the mark).
 */

const published = counter(
  'events_published_total',
  'Events the sink accepted, by function and CloudEvent type.',
  ['function', 'type'],
);
const deliveryAttempts = counter(
  'events_delivery_attempts_total',
  'Attempts to deliver an event to the sink, by result (success or failure).',
  ['function', 'result'],
);
const outboxPending = gauge(
  'events_outbox_pending',
  'Events written to the outbox and not delivered yet (as of the last delivery pass).',
  ['function'],
);

const BATCH_SIZE = 50;
const SEND_TIMEOUT_MS = 5_000;
/** How long a claim keeps other instances off a batch; a batch stops early rather than outlive it. */
const LEASE_MS = 30_000;
const PURGE_EVERY_MS = 60 * 60 * 1000;
const KEEP_DELIVERED_HOURS = 24;

/** Exponential backoff with jitter: between half and all of min(max, base * 2^(attempt-1)). */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface RelayOptions {
  sink: string;
  /** The database, resolved when first needed (the pool is lazy). */
  db: () => Db;
  log: Logger;
  functionName: string;
  retryBaseMs: number;
  retryMaxMs: number;
}

type BatchOutcome = 'idle' | 'done' | 'more' | 'failed';

export class OutboxRelay {
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private lastPurge = 0;
  /**
   * Claims whose outcome the database never recorded because it went away mid-batch (a failover): the sink
   * accepted `accepted`, and `untried` were never sent. The next pass records both first, so a failover
   * neither resends the accepted ones nor leaves the rest leased for the full LEASE_MS.
   */
  private readonly unsettled = { accepted: new Set<string>(), untried: new Set<string>(), claimedAt: 0 };
  /** Aborts sends still in flight when the shutdown budget runs out. */
  private readonly shutdown = new AbortController();

  constructor(private readonly options: RelayOptions) {}

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
   * then are aborted and stay in the outbox for the next instance). Never waits on the sink beyond the budget.
   */
  async close(budgetMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const abortAt = setTimeout(() => this.shutdown.abort(), budgetMs);
    const work = (async () => {
      while (this.running) await this.running;
      if (!this.shutdown.signal.aborted) await this.run();
    })();
    // The database, unlike fetch, cannot be aborted: give it a little beyond the budget, then stop waiting.
    let giveUp: NodeJS.Timeout | undefined;
    await Promise.race([work, new Promise<void>((r) => (giveUp = setTimeout(r, budgetMs + 1_000)))]);
    clearTimeout(abortAt);
    clearTimeout(giveUp);
  }

  private async run(): Promise<void> {
    const { log } = this.options;
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
      await this.purge();
    } catch (error) {
      // The database is unreachable: the events are safe in it; try again later.
      log.warn({ err: error }, 'event delivery paused: the outbox cannot be read');
      this.retryIn(Math.min(this.options.retryMaxMs, 5_000));
    }
  }

  private async deliverBatch(): Promise<BatchOutcome> {
    const db = this.options.db();
    await this.settle(db);
    const claimedAt = Date.now();
    const events = await claimDueEvents(db, BATCH_SIZE, LEASE_MS);
    if (events.length === 0) return 'idle';
    const { accepted, untried } = this.unsettled;
    this.unsettled.claimedAt = claimedAt;
    for (const event of events) untried.add(event.seq);
    for (const [index, event] of events.entries()) {
      if (Date.now() - claimedAt > LEASE_MS - SEND_TIMEOUT_MS - 1_000) {
        // The lease is nearly up: give the rest back rather than risk another instance sending them too.
        await releaseEvents(db, seqsFrom(events, index), 0);
        untried.clear();
        return 'more';
      }
      const failure = await this.send(event);
      if (failure === undefined) {
        untried.delete(event.seq);
        accepted.add(event.seq);
        await markDelivered(db, [event.seq]);
        accepted.delete(event.seq);
        deliveryAttempts.inc({ function: this.options.functionName, result: 'success' });
        published.inc({ function: this.options.functionName, type: event.type });
        continue;
      }
      deliveryAttempts.inc({ function: this.options.functionName, result: 'failure' });
      const delay = retryDelayMs(event.attempts + 1, this.options.retryBaseMs, this.options.retryMaxMs);
      await markFailed(db, event.seq, delay, failure);
      // The sink is failing: the rest of the batch waits behind this event, in order.
      await releaseEvents(db, seqsFrom(events, index + 1), delay);
      untried.clear();
      this.options.log.warn(
        { event_id: event.id, attempts: event.attempts + 1, retry_in_ms: delay, reason: failure },
        'event delivery failed; will retry',
      );
      return 'failed';
    }
    return events.length === BATCH_SIZE ? 'more' : 'done';
  }

  /** Records what an interrupted batch left unrecorded (see `unsettled`), before claiming anything new. */
  private async settle(db: Db): Promise<void> {
    const { accepted, untried } = this.unsettled;
    if (accepted.size > 0) {
      await markDelivered(db, [...accepted]);
      accepted.clear();
    }
    // Past the lease another instance may hold them now: giving them back would let a third send them too.
    if (untried.size > 0 && Date.now() - this.unsettled.claimedAt < LEASE_MS)
      await releaseEvents(db, [...untried], 0);
    untried.clear();
  }

  /** undefined when the sink accepted the event (2xx); otherwise why not. One producer span per attempt. */
  private send(event: OutboxEventRow): Promise<string | undefined> {
    const attributes = {
      'messaging.system': 'cloudevents',
      'messaging.operation.type': 'send',
      'messaging.destination.name': this.options.sink,
      'cloudevents.event_id': event.id,
      'cloudevents.event_type': event.type,
      'cloudevents.event_subject': event.subject,
    };
    return withSpan(
      `send ${event.type}`,
      attributes,
      async (span) => {
        const message = toBinaryMessage({
          id: event.id,
          type: event.type,
          source: event.source,
          subject: event.subject,
          time: event.occurred_at.toISOString(),
          data: event.data,
        });
        let failure: string | undefined;
        try {
          const response = await fetch(this.options.sink, {
            method: 'POST',
            headers: injectTraceHeaders({ ...message.headers }),
            body: message.body,
            signal: AbortSignal.any([AbortSignal.timeout(SEND_TIMEOUT_MS), this.shutdown.signal]),
          });
          // Read (bounded by the same signal) so the connection can be reused.
          await response.arrayBuffer();
          span.setAttribute('http.response.status_code', response.status);
          failure = response.ok ? undefined : `the sink answered ${response.status}`;
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause?.code;
          failure = `${(error as Error).name}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`;
        }
        if (failure) span.setStatus({ code: 2, message: failure });
        return failure;
      },
      {
        kind: 'producer',
        // In the trace of the request that wrote the event, however late and wherever it is delivered.
        parent: event.traceparent
          ? { traceparent: event.traceparent, tracestate: event.tracestate ?? undefined }
          : undefined,
      },
    );
  }

  private async scheduleNext(): Promise<void> {
    const { count, nextDueInMs } = await pendingEvents(this.options.db());
    outboxPending.set({ function: this.options.functionName }, count);
    if (nextDueInMs !== undefined) this.retryIn(nextDueInMs + 10);
  }

  private retryIn(ms: number): void {
    clearTimeout(this.timer);
    if (this.closed) return;
    // unref: a pending retry must never keep a process alive that is otherwise done.
    this.timer = setTimeout(() => this.wake(), ms).unref();
  }

  private async purge(): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    await purgeDeliveredEvents(this.options.db(), KEEP_DELIVERED_HOURS);
  }
}

function seqsFrom(events: OutboxEventRow[], start: number): string[] {
  return events.slice(start).map((event) => event.seq);
}
