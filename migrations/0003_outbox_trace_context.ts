import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The trace context (W3C traceparent, tracestate) of the request that wrote an event: its delivery, whenever
  // and by whichever instance it happens, is drawn in that request's trace. Null when tracing was off.
  await db.schema
    .alterTable('outbox_event')
    .addColumn('traceparent', 'varchar(55)')
    .addColumn('tracestate', 'varchar(512)')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('outbox_event').dropColumn('tracestate').dropColumn('traceparent').execute();
}
