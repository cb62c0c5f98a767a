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
 * messages a client can act on instead of valibot's "Expected never but received ...". That the body is an
 * object at all is checked before (shared/http/route.ts), for every body alike.
 */
export function strictBody<E extends v.ObjectEntries>(entries: E) {
  return v.strictObject(entries, (issue) =>
    issue.expected === 'never' ? 'is not a known field' : 'is required',
  );
}

/**
 * Characters a text field may hold: no control character (Unicode Cc: U+0000–U+001F, U+007F–U+009F; PostgreSQL
 * cannot store NUL at all) and no unpaired UTF-16 surrogate (UTF-8 cannot encode one, so it would be silently
 * replaced). Written without the `u` flag, which JSON Schema has no word for, yet it reads the same with it
 * (as ajv and browsers evaluate `pattern`): a surrogate pair is one character either way.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what it is for.
const SINGLE_LINE = /^(?:[^\u0000-\u001f\u007f-\u009f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;
/** The same, with tab, line feed and carriage return allowed: for free text that may span lines. */
const MULTILINE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is what it is for.
  /^(?:[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])*$/;

/** Code points, as JSON Schema's minLength/maxLength and PostgreSQL's varchar(n) count (not UTF-16 units). */
function codePoints(value: string): number {
  let count = 0;
  for (const _ of value) count += 1;
  return count;
}

/**
 * Checks whose rule the OpenAPI document already states through the metadata next to them (tools/openapi
 * leaves their message out of the field's description).
 */
export const DOCUMENTED_CHECKS = new WeakSet<object>();

function documented<A extends object>(action: A): A {
  DOCUMENTED_CHECKS.add(action);
  return action;
}

export interface TextOptions {
  /** Fewest characters (code points); 0 unless given. */
  min?: number;
  /** Most characters (code points). */
  max: number;
  /** Allows tab, line feed and carriage return (free text); other control characters stay refused. */
  multiline?: boolean;
}

/**
 * The one string schema for every string a request carries to the database: lengths in characters as
 * PostgreSQL and JSON Schema count them, and no character that PostgreSQL or UTF-8 cannot keep (NUL, other
 * control characters, unpaired surrogates), so bad text is a 422 naming the field, never a 500. Every rule is
 * visible to a client in the OpenAPI document as `minLength`, `maxLength` and `pattern`.
 */
export function text({ min = 0, max, multiline = false }: TextOptions) {
  const plural = (n: number) => `${n} character${n === 1 ? '' : 's'}`;
  return v.pipe(
    v.string('must be a string'),
    v.regex(
      multiline ? MULTILINE : SINGLE_LINE,
      multiline
        ? 'must not contain control characters other than tab and line breaks, nor unpaired surrogates'
        : 'must not contain control characters (NUL, tab, line breaks...) nor unpaired surrogates',
    ),
    documented(
      v.check(
        (value: string) => codePoints(value) >= min && codePoints(value) <= max,
        (issue) =>
          codePoints(issue.input as string) < min
            ? `must be at least ${plural(min)}`
            : `must be at most ${plural(max)}`,
      ),
    ),
    v.metadata({ ...(min > 0 && { minLength: min }), maxLength: max }),
  );
}
