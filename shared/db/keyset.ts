import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';

/**
 * The order every list shares, newest first: (created_at desc, id desc), total because ids are unique, and
 * served by an index on exactly those columns. A page by cursor starts after a position in that order (an index
 * range, however deep); a page by skip counts rows from the top (OFFSET). Both are one window of it.
 */

/** The window of the order a page needs (see shared/http/pagination.ts). */
export interface PageWindow {
  /** After this row (its `position_at` and id); undefined: from the top. */
  after: { at: string; id: string } | undefined;
  offset: number;
  take: number;
}

/** A row selected with `positionOf`: where it lies in the order. */
export interface Positioned {
  id: string;
  position_at: string;
}

/**
 * created_at in whole microseconds since the epoch, as text: exact (a JavaScript Date keeps milliseconds only,
 * and rows a microsecond apart must not tie), and independent of the session's time zone or date style.
 */
export function positionOf(table: string): RawBuilder<string> {
  return sql<string>`(extract(epoch from ${sql.ref(`${table}.created_at`)}) * 1000000)::bigint::text`;
}

/** The rows after a position, as one row comparison the (created_at desc, id desc) index answers as a range. */
export function afterPosition(table: string, at: unknown, id: unknown): Expression<SqlBool> {
  return sql<SqlBool>`(${sql.ref(`${table}.created_at`)}, ${sql.ref(`${table}.id`)}) < (timestamptz 'epoch' + ${at}::bigint * interval '1 microsecond', ${id}::uuid)`;
}
