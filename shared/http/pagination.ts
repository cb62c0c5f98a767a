import * as v from 'valibot';

/**
 * The one pagination every list endpoint uses (CONTRACT.md): `skip` (default 0) and `limit` (default 100, at
 * most 1000) in the query, `{ data, count }` in the answer, `count` being every matching row. Generic: users
 * and items (and any later list) share it, so the rules and the 422s cannot drift apart. `limit=0` is a valid,
 * empty page: a cheap way to ask only for the count.
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

export const PaginationQuery = v.object({
  skip: v.optional(wholeNumber(0, MAX_SKIP), '0'),
  limit: v.optional(wholeNumber(0, MAX_LIMIT), String(DEFAULT_LIMIT)),
});

export type Pagination = v.InferOutput<typeof PaginationQuery>;

export interface Page<T> {
  data: T[];
  count: number;
}

/** The response schema of a list of `item` (for validation-free documentation: OpenAPI reads it). */
export function pageSchema<S extends v.GenericSchema>(item: S) {
  return v.object({
    data: v.array(item),
    count: v.pipe(v.number(), v.integer(), v.minValue(0)),
  });
}

export function pageOf<T>(data: T[], count: number | bigint | string): Page<T> {
  // PostgreSQL's count(*) is a bigint, which pg hands over as a string.
  return { data, count: Number(count) };
}
