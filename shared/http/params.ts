import * as v from 'valibot';

/**
 * A UUID path parameter. Lower-cased on the way in: PostgreSQL accepts either case, but cache keys and
 * comparisons in code are plain strings, and one item must never live under two keys.
 */
export const Uuid = v.pipe(
  v.string(),
  v.uuid('must be a UUID'),
  v.transform((id) => id.toLowerCase()),
);

/** `{ [name]: UUID }` for a route's `params`: a non-UUID answers 422 naming `path.<name>`. */
export function uuidParams<K extends string>(name: K) {
  return v.object({ [name]: Uuid } as Record<K, typeof Uuid>);
}
