/**
 * Where secrets are replaced by "[redacted]" in log lines: pino's `redact` paths. pino matches key names exactly
 * (case included) at the places a path names, so each secret's spellings are listed, at the top of a logged
 * object or a child's bindings and inside the objects that carry request data (an error's own properties and
 * what they hold, a body, headers, config). A secret elsewhere (deeper, or under another key) is not matched:
 * log such objects through one of these keys, or add its path here. Paths that begin with a wildcard (`*.x`)
 * are left out on purpose: pino would run every field of every line through them.
 */

export const REDACTED = '[redacted]';

/** Key names that hold secrets, as this code, HTTP and common clients spell them. */
const SECRET_KEYS = [
  'password',
  'passwd',
  'current_password',
  'new_password',
  'hashed_password',
  'secret',
  'client_secret',
  'secret_key',
  'secretKey',
  'SECRET_KEY',
  'token',
  'tokens',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'upstashToken',
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'Set-Cookie',
  'x-api-key',
  'api_key',
  'apiKey',
  'private_key',
  'privateKey',
  'jwtPrivateKey',
  'credentials',
];

/** '' is the logged object itself; `err.*` is any object an error holds (its body, headers, config...). */
const PLACES = ['', 'err', 'err.*', 'body', 'body.*', 'headers', 'req.headers', 'config'];

const segment = (key: string) => (/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `["${key}"]`);

export const REDACT_PATHS = PLACES.flatMap((place) =>
  SECRET_KEYS.map((key) => `${place}${segment(key)}`.replace(/^\./, '')),
);
