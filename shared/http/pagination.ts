import * as v from 'valibot';
import type { PageWindow, Positioned } from '../db/keyset.ts';
import { type CursorBinding, openCursor, type Position, sealCursor } from './cursor.ts';
import { unprocessable } from './errors.ts';

/**
 * The one pagination every list endpoint uses (CONTRACT.md): `cursor` (a `next_cursor` given earlier), or
 * `skip` (default 0), and `limit` (default 100, at most 1000) in the query; `{ data, count, next_cursor }` in
 * the answer, `count` being every matching row. Generic: every list shares it, so the rules and the 422s cannot
 * drift apart. `limit=0` is a valid, empty page: a cheap way to ask only for the count.
 */

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
// PostgreSQL takes a bigint OFFSET, but nothing useful lies past 2^31 rows, and it keeps the number exact.
const MAX_SKIP = 2_147_483_647;

/**
 * Marks a query parameter that travels as digits but means an integer: the OpenAPI document (tools/openapi)
 * describes it as an integer with these bounds, so generated clients take a number.
 */
export const QUERY_INTEGER = 'queryInteger';
export interface QueryIntegerBounds {
  minimum: number;
  maximum: number;
}

/** Marks a query parameter that travels as `true`/`false` but means a boolean (documented as one, like integers). */
export const QUERY_BOOLEAN = 'queryBoolean';

/** `true` or `false` in a query string, as a boolean; anything else is a 422 naming the parameter. */
export const queryBoolean = () =>
  v.pipe(
    v.picklist(['true', 'false'], 'must be true or false'),
    v.transform((value) => value === 'true'),
    v.metadata({ [QUERY_BOOLEAN]: true }),
  );

/** A whole number from a query string ("20"), within bounds; anything else is a 422 naming the parameter. */
const wholeNumber = (min: number, max: number) =>
  v.pipe(
    v.string('must be a whole number'),
    v.regex(/^\d{1,10}$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
    v.metadata({ [QUERY_INTEGER]: { minimum: min, maximum: max } satisfies QueryIntegerBounds }),
  );

/** Base64url, as cursor.ts writes it; whether it opens is checked with the caller known (a 422 either way). */
const Cursor = v.pipe(
  v.string('must be a next_cursor from an earlier page'),
  v.regex(/^[A-Za-z0-9_-]{1,1024}$/, 'must be a next_cursor from an earlier page'),
  v.description('Continues a list where an earlier page ended: its `next_cursor`, with the same filters.'),
);

export const PaginationQuery = v.object({
  skip: v.optional(wholeNumber(0, MAX_SKIP), '0'),
  limit: v.optional(wholeNumber(0, MAX_LIMIT), String(DEFAULT_LIMIT)),
  cursor: v.optional(Cursor),
});

export type Pagination = v.InferOutput<typeof PaginationQuery>;

/** The query of a list with filters of its own: pagination plus `filters`. */
export function listQuery<E extends v.ObjectEntries>(filters: E) {
  return v.object({ ...PaginationQuery.entries, ...filters });
}

export interface Page<T> {
  data: T[];
  count: number;
  /** Continues after this page's last row; null on the last page. */
  next_cursor: string | null;
}

/** The response schema of a list of `item` (for validation-free documentation: OpenAPI reads it). */
export function pageSchema<S extends v.GenericSchema>(item: S) {
  return v.object({
    data: v.array(item),
    count: v.pipe(v.number(), v.integer(), v.minValue(0)),
    next_cursor: v.pipe(
      v.nullable(v.string()),
      v.description('Pass as `cursor` (with the same filters) for the next page; null on the last page.'),
    ),
  });
}

export interface ListRequest {
  /** SECRET_KEY: cursors are sealed with a key derived from it. */
  secret: string;
  /** The list, the caller and the filters a cursor of this list is made for and only opens for. */
  binding: CursorBinding;
  query: Pagination;
}

/** One page as the repository found it: the rows (with their position in the list's order) and the count. */
export interface Found<R> {
  rows: R[];
  count: number | bigint | string;
}

const badCursor = () =>
  unprocessable('Invalid request: query.cursor: is not a cursor of this list for this caller and filters.', [
    { path: 'query.cursor', message: 'is not a cursor of this list for this caller and filters' },
  ]);

/**
 * A page of any list, by cursor or by skip, in one call: opens the cursor, asks `find` for the window of rows
 * (one more than the page, to know whether another page follows; after `skip`, also the row before the page,
 * whose position a `limit=0` page continues from), and seals the next cursor.
 */
export async function paginate<R extends Positioned, T>(
  { secret, binding, query }: ListRequest,
  find: (window: PageWindow) => Promise<Found<R>>,
  toData: (row: NoInfer<R>) => T,
): Promise<Page<T>> {
  const { skip, limit, cursor } = query;
  let after: Position = [];
  if (cursor !== undefined) {
    if (skip > 0) {
      throw unprocessable('Invalid request: query.skip: cannot be combined with a cursor.', [
        { path: 'query.skip', message: 'cannot be combined with a cursor' },
      ]);
    }
    const opened = openCursor(secret, binding, cursor);
    if (opened === undefined || (opened.length !== 0 && opened.length !== 2)) throw badCursor();
    after = opened;
  }
  const anchored = skip > 0;
  const found = await find({
    after: after.length === 2 ? { at: after[0]!, id: after[1]! } : undefined,
    offset: anchored ? skip - 1 : 0,
    take: limit + (anchored ? 2 : 1),
  });
  const rows = [...found.rows];
  const anchor = anchored ? rows.shift() : undefined;
  const page = rows.slice(0, limit);
  let next: Position | undefined;
  if (rows.length > limit) {
    const last = page.at(-1) ?? anchor;
    next = last ? [last.position_at, last.id] : after;
  }
  return {
    data: page.map(toData),
    // PostgreSQL's counts are bigints, which pg hands over as strings.
    count: Number(found.count),
    next_cursor: next === undefined ? null : sealCursor(secret, binding, next),
  };
}
