import type { Migration } from 'kysely';
import * as m0001 from './0001_users_and_items.ts';
import * as m0002 from './0002_item_events_and_idempotency.ts';
import * as m0003 from './0003_outbox_trace_context.ts';
import * as m0004 from './0004_list_counts_and_search.ts';
import * as m0005 from './0005_sessions.ts';
import * as m0006 from './0006_email.ts';
import * as m0007 from './0007_email_token_purge.ts';

/**
 * Every migration, in order. Listed statically (not read from the folder) so that the migrate bundle carries
 * them and runs from any working directory. Add a new file, then add it here.
 */
export const migrations: Record<string, Migration> = {
  '0001_users_and_items': m0001,
  '0002_item_events_and_idempotency': m0002,
  '0003_outbox_trace_context': m0003,
  '0004_list_counts_and_search': m0004,
  '0005_sessions': m0005,
  '0006_email': m0006,
  '0007_email_token_purge': m0007,
};
