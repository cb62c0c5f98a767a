import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';
import type { AppContext } from '../http/context.ts';
import type { OutboxRelay } from '../outbox/relay.ts';
import { outboxWriter } from '../outbox/writer.ts';
import { insertEvent, type NewEvent } from './outbox-store.ts';
import { eventRelay } from './relay.ts';

export type { NewEvent } from './outbox-store.ts';

/**
 * Publishing through a transactional outbox. A change and its event are written in one transaction, so an
 * event exists exactly when its change committed; delivery to K_SINK happens afterwards, in the background,
 * and survives a sink outage and a restart. Without K_SINK nothing is written, so nothing piles up.
 */
export interface EventPublisher {
  readonly enabled: boolean;
  /** Writes the event with the change: pass the transaction that makes the change. */
  record(trx: Db, event: NewEvent): Promise<void>;
  /** After commit: deliver soon, in the background. Returns at once; never awaited by a request. */
  afterCommit(): void;
  /** Delivers what a previous instance left behind; cheap to call more than once. */
  start(): void;
  /** The relay, when K_SINK is set (tests wait on it). */
  readonly relay: OutboxRelay<OutboxEventRow> | undefined;
}

const publishers = new WeakMap<AppContext, EventPublisher>();

function createPublisher(ctx: AppContext): EventPublisher {
  const { sink, retryBaseMs, retryMaxMs } = ctx.config.events;
  if (!sink) {
    return { enabled: false, relay: undefined, async record() {}, afterCommit() {}, start() {} };
  }
  const relay = eventRelay({
    sink,
    db: () => ctx.db,
    log: ctx.log,
    functionName: ctx.functionName,
    retryBaseMs,
    retryMaxMs,
  });
  return { enabled: true, ...outboxWriter(ctx, relay, insertEvent) };
}

/** The publisher of this process (one per context, made on first use). */
export function eventPublisher(ctx: AppContext): EventPublisher {
  let publisher = publishers.get(ctx);
  if (!publisher) {
    publisher = createPublisher(ctx);
    publishers.set(ctx, publisher);
  }
  return publisher;
}
