import { KEEP_DELIVERED_HOURS, type Purge } from '../../shared/db/housekeeping.ts';
import { eventStore } from '../../shared/events/outbox-store.ts';
import { purgeExpiredIdempotencyKeys } from './repository.ts';
import { IDEMPOTENCY_TTL_HOURS } from './service.ts';

/** What items purges on its schedule (shared/db/housekeeping.ts): Idempotency-Keys past their 24 h, sent events. */
export const itemsPurges: Purge[] = [
  {
    name: 'idempotency_key',
    run: (db, options) => purgeExpiredIdempotencyKeys(db, IDEMPOTENCY_TTL_HOURS, options),
  },
  {
    name: 'outbox_event',
    run: (db, options) => eventStore.purgeDelivered(db, KEEP_DELIVERED_HOURS, options),
  },
];
