import type { Db } from '../db/index.ts';
import type { OutboxEventRow } from '../db/schema.ts';
import { type DeliveryFailure, OutboxRelay, storedParent } from '../outbox/relay.ts';
import type { Logger } from '../telemetry/logger.ts';
import { counter, gauge } from '../telemetry/metrics.ts';
import { injectTraceHeaders, withSpan } from '../telemetry/tracing.ts';
import { toBinaryMessage } from './cloudevent.ts';
import { eventStore } from './outbox-store.ts';

/**
 * Delivers the events' outbox to K_SINK, in the background (shared/outbox/relay.ts). Every retry carries the
 * same ce-id, so receivers de-duplicate the rare repeat.
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

const SEND_TIMEOUT_MS = 5_000;

export interface EventRelayOptions {
  sink: string;
  /** The database, resolved when first needed (the pool is lazy). */
  db: () => Db;
  log: Logger;
  functionName: string;
  retryBaseMs: number;
  retryMaxMs: number;
}

export function eventRelay(options: EventRelayOptions): OutboxRelay<OutboxEventRow> {
  const { sink, functionName } = options;
  return new OutboxRelay<OutboxEventRow>({
    kind: 'event',
    store: eventStore,
    send: (event, signal) => send(sink, event, signal),
    sendTimeoutMs: SEND_TIMEOUT_MS,
    db: options.db,
    log: options.log,
    retryBaseMs: options.retryBaseMs,
    retryMaxMs: options.retryMaxMs,
    observe: {
      attempt: (result) => deliveryAttempts.inc({ function: functionName, result }),
      pending: (count) => outboxPending.set({ function: functionName }, count),
      delivered: (event) => published.inc({ function: functionName, type: event.type }),
    },
    describe: (event) => ({ event_id: event.id }),
  });
}

/** undefined when the sink accepted the event (2xx); otherwise why not. One producer span per attempt. */
function send(
  sink: string,
  event: OutboxEventRow,
  shutdown: AbortSignal,
): Promise<DeliveryFailure | undefined> {
  const attributes = {
    'messaging.system': 'cloudevents',
    'messaging.operation.type': 'send',
    'messaging.destination.name': sink,
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
        const response = await fetch(sink, {
          method: 'POST',
          headers: injectTraceHeaders({ ...message.headers }),
          body: message.body,
          signal: AbortSignal.any([AbortSignal.timeout(SEND_TIMEOUT_MS), shutdown]),
        });
        // Read (bounded by the same signal) so the connection can be reused.
        await response.arrayBuffer();
        span.setAttribute('http.response.status_code', response.status);
        failure = response.ok ? undefined : `the sink answered ${response.status}`;
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        failure = `${(error as Error).name}: ${(error as Error).message}${cause ? ` (${cause})` : ''}`;
      }
      if (!failure) return undefined;
      span.setStatus({ code: 2, message: failure });
      // Events go in order: whatever the sink's reason, the ones behind wait.
      return { reason: failure, destinationDown: true };
    },
    // In the trace of the request that wrote the event, however late and wherever it is delivered.
    { kind: 'producer', parent: storedParent(event) },
  );
}
