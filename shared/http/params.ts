import * as v from 'valibot';

/** Path and response pieces every function shares. */

export const Uuid = v.pipe(v.string('must be a UUID'), v.uuid('must be a UUID'));

/**
 * `{ [name]: uuid }` for a route's `params`: a non-UUID id is a 422 naming `path.<name>` before any query
 * runs (PostgreSQL would otherwise reject the cast with a 500).
 */
export function uuidParams<K extends string>(name: K) {
  return v.object({ [name]: Uuid } as { [P in K]: typeof Uuid });
}

/** An ISO 8601 time with its zone, as every response writes `created_at` / `updated_at`. */
export const Timestamp = v.pipe(v.string(), v.isoTimestamp());
