import { type Kysely, sql } from 'kysely';

/**
 * Lists that cost the same at any size (issue 21): exact counts kept by triggers, so an unfiltered list never
 * counts rows; indexes in the lists' one total order (created_at desc, id desc), so a page by cursor is an index
 * range; a trigram index for the items' title search. Built on tables that may already hold data.
 */

/** Rows each counter is spread over, so concurrent writers rarely wait on one counter row. */
const SLOTS = 16;

export async function up(db: Kysely<unknown>): Promise<void> {
  // The backfill and the index builds read the whole tables: on millions of rows they outlast the pool's
  // statement_timeout, which is meant for requests (this transaction only).
  await sql`set local statement_timeout = 0`.execute(db);
  // A count is the sum of its rows (see add_to_count).
  await sql`
    create table row_count (
      counter text not null,
      slot smallint not null,
      n bigint not null,
      primary key (counter, slot)
    )`.execute(db);

  // The counters an item adds to: every item, and its owner's; inactive ones also apart, so `is_active`
  // filters are counted without counting rows. A counter is named `table[.subset][:owner]`.
  await sql`
    create function item_counters(owner uuid, active boolean) returns text[] language sql immutable as $$
      select case when active then array['item', 'item:' || owner]
        else array['item', 'item:' || owner, 'item.inactive', 'item.inactive:' || owner] end
    $$`.execute(db);

  // Adds to a counter in the writer's slot (pg_backend_pid modulo the slots): one transaction always touches the
  // same row of a counter, and concurrent writers (even one owner's) mostly touch different rows instead of
  // queueing on one. A row that comes back to zero goes (it is locked by this transaction, so that is safe).
  await sql`
    create function add_to_count(name text, delta bigint) returns void language plpgsql as $$
    declare
      mine smallint := pg_backend_pid() % ${sql.lit(SLOTS)};
    begin
      if delta = 0 then
        return;
      end if;
      insert into row_count as r (counter, slot, n) values (name, mine, delta)
        on conflict (counter, slot) do update set n = r.n + excluded.n;
      delete from row_count where counter = name and slot = mine and n = 0;
    end
    $$`.execute(db);

  // Statement-level: the rows a statement added count +1, those it removed -1, summed per counter (a bulk load
  // of millions updates each counter once). Sorted, so two statements lock counter rows in the same order.
  await sql`
    create function count_items() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        perform add_to_count(counter, count(*))
          from new_rows, unnest(item_counters(owner_id, is_active)) counter group by counter order by counter;
      elsif tg_op = 'DELETE' then
        perform add_to_count(counter, -count(*))
          from old_rows, unnest(item_counters(owner_id, is_active)) counter group by counter order by counter;
      else
        perform add_to_count(counter, sum(delta)::bigint)
          from (select counter, 1 as delta from new_rows, unnest(item_counters(owner_id, is_active)) counter
                union all
                select counter, -1 from old_rows, unnest(item_counters(owner_id, is_active)) counter) changes
          group by counter order by counter;
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`
    create function count_users() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        perform add_to_count('user', count(*)) from new_rows;
      else
        perform add_to_count('user', -count(*)) from old_rows;
      end if;
      return null;
    end
    $$`.execute(db);

  // TRUNCATE fires no row changes: its counters start again from nothing.
  await sql`
    create function reset_row_counts() returns trigger language plpgsql as $$
    begin
      delete from row_count where substring(counter from '^[a-z_]+') = tg_argv[0];
      return null;
    end
    $$`.execute(db);

  for (const [table, count] of [
    ['item', 'count_items'],
    ['user', 'count_users'],
  ] as const) {
    const name = sql.id(table);
    const counting = sql.id(count);
    await sql`create trigger ${sql.id(`${table}_count_insert`)} after insert on ${name}
      referencing new table as new_rows for each statement execute function ${counting}()`.execute(db);
    await sql`create trigger ${sql.id(`${table}_count_delete`)} after delete on ${name}
      referencing old table as old_rows for each statement execute function ${counting}()`.execute(db);
    await sql`create trigger ${sql.id(`${table}_count_truncate`)} after truncate on ${name}
      for each statement execute function reset_row_counts(${sql.lit(table)})`.execute(db);
  }
  // Items move between counters when their owner or is_active changes; a user counts the same whatever changes.
  await sql`create trigger item_count_update after update on item
    referencing old table as old_rows new table as new_rows
    for each statement execute function count_items()`.execute(db);

  // Backfill from the rows already there, in the same transaction as the triggers (nothing slips between).
  await sql`lock table item, "user" in share row exclusive mode`.execute(db);
  await sql`
    insert into row_count (counter, slot, n)
    select counter, 0, count(*) from item, unnest(item_counters(owner_id, is_active)) counter group by counter
    union all select 'user', 0, count(*) from "user"`.execute(db);
  await sql`delete from row_count where n = 0`.execute(db);

  // The lists' order, with id descending too: a cursor's (created_at, id) < (…) is then one index range.
  await sql`drop index item_owner_created_idx`.execute(db);
  await sql`drop index item_created_idx`.execute(db);
  await sql`drop index user_created_at_idx`.execute(db);
  await sql`create index item_owner_created_idx on item (owner_id, created_at desc, id desc)`.execute(db);
  await sql`create index item_created_idx on item (created_at desc, id desc)`.execute(db);
  await sql`create index user_created_idx on "user" (created_at desc, id desc)`.execute(db);

  // `q` is a case-insensitive substring of the title: ILIKE '%…%' served by trigrams (pg_trgm is a trusted
  // extension, so the database's owner may create it).
  await sql`create extension if not exists pg_trgm`.execute(db);
  await sql`create index item_title_trgm_idx on item using gin (title gin_trgm_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists item_title_trgm_idx`.execute(db);
  await sql`drop index if exists user_created_idx`.execute(db);
  await sql`drop index if exists item_created_idx`.execute(db);
  await sql`drop index if exists item_owner_created_idx`.execute(db);
  await sql`create index user_created_at_idx on "user" (created_at desc, id)`.execute(db);
  await sql`create index item_created_idx on item (created_at desc, id)`.execute(db);
  await sql`create index item_owner_created_idx on item (owner_id, created_at desc, id)`.execute(db);
  for (const table of ['item', 'user']) {
    for (const operation of ['insert', 'delete', 'truncate', 'update']) {
      await sql`drop trigger if exists ${sql.id(`${table}_count_${operation}`)} on ${sql.id(table)}`.execute(
        db,
      );
    }
  }
  await sql`drop function if exists reset_row_counts()`.execute(db);
  await sql`drop function if exists count_users()`.execute(db);
  await sql`drop function if exists count_items()`.execute(db);
  await sql`drop function if exists add_to_count(text, bigint)`.execute(db);
  await sql`drop function if exists item_counters(uuid, boolean)`.execute(db);
  await sql`drop table if exists row_count`.execute(db);
}
