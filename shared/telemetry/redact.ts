/**
 * Secrets are removed from log lines by key name, at any depth: request bodies, headers, nested objects and
 * errors (and their causes) alike. Path lists (pino's `redact`) miss a password one level deeper than someone
 * thought of; matching names wherever they appear does not.
 */

export const REDACTED = '[redacted]';

/**
 * password, current_password, hashed_password, access_token, refreshToken, authorization, x-api-key...: any key
 * ending in one of these, in any case. Compared as text rather than by a regular expression, which costs its
 * compilation on the first log line of every cold start (and a match on every key after).
 */
const SECRET_SUFFIXES = [
  'password',
  'passwd',
  'secret',
  'secretkey',
  'secret-key',
  'secret_key',
  'token',
  'tokens',
  'authorization',
  'cookie',
  'apikey',
  'api-key',
  'api_key',
  'privatekey',
  'private-key',
  'private_key',
  'credential',
  'credentials',
];

// Deep enough for any body we accept, shallow enough that a cyclic or huge object costs little.
const MAX_DEPTH = 8;

export function isSecretKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_SUFFIXES.some((suffix) => lower.endsWith(suffix));
}

function walkable(value: object): boolean {
  if (value instanceof Error) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function copyOf(value: object): Record<string, unknown> {
  if (value instanceof Error) {
    // Keep the prototype (the serializer names the type from it) and the non-enumerable message and stack.
    const copy = Object.assign(Object.create(Object.getPrototypeOf(value)) as Error, value);
    copy.message = value.message;
    if (value.stack !== undefined) copy.stack = value.stack;
    if (value.cause !== undefined) copy.cause = value.cause;
    return copy as unknown as Record<string, unknown>;
  }
  return { ...(value as Record<string, unknown>) };
}

/** Returns `value` itself when it holds no secret, otherwise a copy with every secret replaced. */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    value.forEach((item, i) => {
      const clean = redactSecrets(item, depth + 1);
      if (clean !== item) {
        copy ??= value.slice();
        copy[i] = clean;
      }
    });
    return (copy ?? value) as T;
  }
  if (!walkable(value)) return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  const keys = Object.keys(record);
  if (value instanceof Error && value.cause !== undefined) keys.push('cause');
  for (const key of keys) {
    const item = record[key];
    const clean = isSecretKey(key) && item !== undefined ? REDACTED : redactSecrets(item, depth + 1);
    if (clean !== item) {
      copy ??= copyOf(value);
      copy[key] = clean;
    }
  }
  return (copy ?? value) as T;
}
