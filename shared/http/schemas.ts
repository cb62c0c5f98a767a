import * as v from 'valibot';

/** Schema pieces every function shares, so ids, times and bodies fail the same way everywhere. */

/**
 * Lower-cased on the way in: PostgreSQL accepts either case, but cache keys and comparisons in code are plain
 * strings, and one row must never live under two keys.
 */
export const Uuid = v.pipe(
  v.string('must be a UUID'),
  v.uuid('must be a UUID'),
  v.transform((id) => id.toLowerCase()),
);

/**
 * `{ [name]: uuid }` for a route's `params`: a non-UUID id is a 422 naming `path.<name>` before any query
 * runs (PostgreSQL would otherwise reject the cast with a 500).
 */
export function uuidParams<K extends string>(name: K) {
  return v.object({ [name]: Uuid } as { [P in K]: typeof Uuid });
}

/** An ISO 8601 time with its zone, as every response writes `created_at` / `updated_at`. */
export const Timestamp = v.pipe(v.string(), v.isoTimestamp());

/**
 * A request body that rejects unknown fields (so `is_superuser` or `owner_id` cannot be smuggled in), with
 * messages a client can act on instead of valibot's "Expected never but received ...".
 */
export function strictBody<E extends v.ObjectEntries>(entries: E) {
  return v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') return 'is not a known field';
    if (v.getDotPath(issue) === null) return 'must be a JSON object';
    return 'is required';
  });
}
