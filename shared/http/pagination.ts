import * as v from 'valibot';

/**
 * The contract's pagination, shared by every list endpoint: `skip` (default 0) and `limit` (default 100, at
 * most 1000) from the query string, answered as `{ data, count }` where `count` is every matching row, not
 * just this page. `limit=0` is a valid, empty page: a cheap way to ask only for the count.
 */

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

/** A whole number from a query string; anything else ("1.5", "-1", "abc", a repeated parameter) is a 422. */
const queryInteger = (max: number, fallback: number) =>
  v.optional(
    v.pipe(
      v.string('must be a whole number'),
      v.regex(/^\d+$/, 'must be a whole number'),
      v.transform(Number),
      v.maxValue(max, `must be at most ${max}`),
    ),
    String(fallback),
  );

export const PaginationQuery = v.object({
  skip: queryInteger(Number.MAX_SAFE_INTEGER, 0),
  limit: queryInteger(MAX_LIMIT, DEFAULT_LIMIT),
});

export type Pagination = v.InferOutput<typeof PaginationQuery>;

export interface Page<T> {
  data: T[];
  count: number;
}

export function page<T>(data: T[], count: number): Page<T> {
  return { data, count };
}

/** The response schema of a page of `item`s, for the OpenAPI document. */
export function pageOf<S extends v.GenericSchema>(item: S) {
  return v.object({ data: v.array(item), count: v.pipe(v.number(), v.integer(), v.minValue(0)) });
}
