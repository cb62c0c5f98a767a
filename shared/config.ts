import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import proxyAddr from '@fastify/proxy-addr';
import * as v from 'valibot';
import { LEVEL_NAMES } from './telemetry/levels.ts';

/**
 * The environment of CONTRACT.md, parsed once and typed. Every function reads its settings from here, so a
 * misconfigured deployment fails at start-up with one message naming every bad variable, rather than at the
 * first request that happens to need it. Parsing only reads: the development values kept on disk are made by
 * the start-up code (shared/dev-data.ts).
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const intVar = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(/^\d+$/, 'must be a whole number'),
    v.transform(Number),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );

const urlVar = (protocols: string[]) =>
  v.pipe(
    v.string(),
    v.trim(),
    v.check(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `must be a URL (${protocols.join(' or ')})`,
    ),
  );

const boolVar = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.picklist(['true', 'false', '1', '0'], 'must be true or false'),
  v.transform((value) => value === 'true' || value === '1'),
);

const nonEmpty = () => v.pipe(v.string(), v.minLength(1));

/** A value read by `parse`, which answers a message instead when the text is wrong. */
const parsedBy = <T>(parse: (raw: string) => T | string) =>
  v.pipe(
    v.string(),
    v.rawTransform<string, Exclude<T, string>>(({ dataset, addIssue, NEVER }) => {
      const parsed = parse(dataset.value);
      if (typeof parsed !== 'string') return parsed as Exclude<T, string>;
      addIssue({ message: parsed });
      return NEVER;
    }),
  );

/** What README.md's Configuration table and .env.example say of a variable beyond its description and default. */
export interface VariableDocs {
  /** Starts a group of .env.example at this variable, under this title; the variables after it belong to it. */
  section?: string;
  /** What happens when it is unset, for a variable without a default (README's default column, .env.example). */
  unset?: string;
  /** A value shown on its commented line in .env.example, for a variable without a default. */
  example?: string;
}

/**
 * One environment variable: its name, what it is for (Markdown, the README's words), its schema with its
 * default, and what the docs say beyond that. The config's shape is made of these, so a variable is declared
 * once: `Config` is inferred from it and `npm run config-docs` writes README.md's table and .env.example from it.
 */
function variable<const TSchema extends v.GenericSchema<string | undefined, unknown>>(
  name: string,
  description: string,
  schema: TSchema,
  docs: VariableDocs = {},
) {
  return v.pipe(schema, v.metadata({ variable: name, docs }), v.description(description));
}

/** Also read before parsing, by the start-up code that keeps development data there. */
export const DEFAULT_DATA_DIR = '.data';

/**
 * In the cluster every hop between the client and the pod (load balancer, Istio gateway, Knative activator,
 * queue-proxy) has a private address and appends to X-Forwarded-For; walking the header from the right past
 * those hops finds the first public address, which a client cannot forge (what it sends itself sits further
 * left). Locally a direct public peer is not trusted, so its X-Forwarded-For is ignored.
 */
export const DEFAULT_TRUST_PROXY = 'loopback,linklocal,uniquelocal';

/** "true", "false", a hop count, or a comma list of addresses, CIDR ranges and named ranges. */
export function parseTrustProxy(raw: string): boolean | number | string[] | string {
  const text = raw.trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^\d+$/.test(text)) return Number(text);
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) return 'must be true, false, a hop count or a list of addresses/CIDR ranges';
  // Checked by the library that will read it (Fastify's trustProxy), so a bad entry fails here, named.
  for (const entry of entries) {
    try {
      proxyAddr.compile(entry);
    } catch {
      return `"${entry}" is not an address, a CIDR range or one of loopback, linklocal, uniquelocal`;
    }
  }
  return entries;
}

/** Accepts a JSON list or a comma list, as the seed's BACKEND_CORS_ORIGINS did. */
export function parseOrigins(raw: string): string[] | string {
  const text = raw.trim();
  let list: unknown;
  if (text.startsWith('[')) {
    try {
      list = JSON.parse(text);
    } catch {
      return 'must be a JSON list or a comma-separated list of origins';
    }
  } else {
    list = text.split(',');
  }
  if (!Array.isArray(list)) return 'must be a list of origins';
  const origins: string[] = [];
  for (const item of list) {
    const origin = typeof item === 'string' ? item.trim().replace(/\/$/, '') : '';
    if (origin === '') continue;
    if (origin !== '*' && !/^https?:\/\/[^/\s]+$/.test(origin)) return `"${String(item)}" is not an origin`;
    origins.push(origin);
  }
  return origins;
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value,key=value`, with ',' and '=' percent-encoded inside keys and values.
 * Returns a message instead when it is malformed (the SDK would silently drop the whole variable).
 */
export function parseResourceAttributes(raw: string): Record<string, string> | string {
  const attributes: Record<string, string> = {};
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const parts = pair.split('=');
    const key = parts[0]?.trim() ?? '';
    if (parts.length !== 2 || key === '') return `"${pair}" is not key=value`;
    try {
      attributes[decodeURIComponent(key)] = decodeURIComponent((parts[1] ?? '').trim());
    } catch {
      return `"${pair}" is not valid percent-encoding`;
    }
  }
  return attributes;
}

/**
 * A JWT key in PEM, parsed here, at start-up, so a wrong key (not PEM, EC, RSA under 2048 bits) stops the
 * process with its variable named instead of failing every token request later. PEM keys arrive with literal
 * "\\n" when set through a one-line environment variable.
 */
const pemKey = (marker: 'PRIVATE KEY' | 'PUBLIC KEY', parse: (key: string) => KeyObject) =>
  v.pipe(
    v.string(),
    v.includes(marker, `must be a PEM ${marker.split(' ')[0]?.toLowerCase()} key (Ed25519 or RSA)`),
    v.transform((value) => value.replace(/\\n/g, '\n')),
    v.rawTransform<string, string>(({ dataset, addIssue, NEVER }) => {
      let key: KeyObject;
      try {
        key = parse(dataset.value);
      } catch {
        addIssue({ message: 'is not a readable PEM key' });
        return NEVER;
      }
      if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)
        addIssue({ message: 'RSA keys must have at least 2048 bits' });
      else if (key.asymmetricKeyType !== 'ed25519' && key.asymmetricKeyType !== 'rsa')
        addIssue({ message: `must be an Ed25519 or RSA key, not ${key.asymmetricKeyType}` });
      return dataset.value;
    }),
  );

const grpcOnly = () => v.literal('grpc', 'must be "grpc" (the only OTLP transport built in)');

/** Every variable, where the config keeps it, its default, its validation and its documentation. */
const configSchema = v.object({
  environment: variable(
    'ENVIRONMENT',
    '`development` / `staging` / `production` (production requires `SECRET_KEY` and `FIRST_SUPERUSER_PASSWORD`, and refuses `*` in `BACKEND_CORS_ORIGINS`)',
    v.optional(v.picklist(['development', 'staging', 'production']), 'development'),
    { section: 'The process' },
  ),
  port: variable('PORT', 'listen port (Knative sets it)', v.optional(intVar(1, 65535), '8080')),
  maxInFlightRequests: variable(
    'MAX_IN_FLIGHT_REQUESTS',
    'requests one process serves at once; past it a quick 503 with `Retry-After` (`0` = no limit; `/api/health/live` is never refused)',
    v.optional(intVar(0, 100_000), '256'),
  ),
  logLevel: variable(
    'LOG_LEVEL',
    `the pino level: ${LEVEL_NAMES.map((level) => `\`${level}\``).join(', ')}`,
    v.optional(v.picklist(LEVEL_NAMES), 'info'),
  ),
  dataDir: variable(
    'DATA_DIR',
    'where local runs keep the embedded database, the dev `SECRET_KEY` and the dev superuser password',
    v.optional(v.string(), DEFAULT_DATA_DIR),
  ),
  database: v.object({
    url: variable(
      'DATABASE_URL',
      "PostgreSQL URL; the seed's `POSTGRES_*` variables below are accepted instead",
      v.optional(urlVar(['postgres:', 'postgresql:'])),
      {
        section: 'PostgreSQL',
        unset: '`npm start` and `npm test` run an embedded PostgreSQL',
        example: 'postgresql://postgres:postgres@localhost:5432/app',
      },
    ),
    poolMax: variable(
      'DB_POOL_MAX',
      "connections per process; keep instances × this under PgBouncer's client limit",
      v.optional(intVar(1, 100), '5'),
    ),
    poolQueueMax: variable(
      'DB_POOL_QUEUE_MAX',
      'requests that may wait for a pooled connection; past it a quick 503 with `Retry-After` rather than a growing queue',
      v.optional(intVar(0, 10_000), '50'),
    ),
    connectTimeoutMs: variable(
      'DB_CONNECT_TIMEOUT_MS',
      'bound on connecting, in milliseconds',
      v.optional(intVar(100, 60_000), '3000'),
    ),
    statementTimeoutMs: variable(
      'DB_STATEMENT_TIMEOUT_MS',
      'bound on one statement, in milliseconds',
      v.optional(intVar(100, 600_000), '10000'),
    ),
  }),
  cache: v.object({
    upstashUrl: variable(
      'UPSTASH_REDIS_REST_URL',
      'shared cache and rate limits through `@upstash/redis` (Upstash, or serverless-redis-http in the cluster; see [Cache and rate limits](#cache-and-rate-limits))',
      v.optional(urlVar(['http:', 'https:'])),
      { section: 'Cache', unset: 'in-process cache and limits', example: 'https://...' },
    ),
    upstashToken: variable(
      'UPSTASH_REDIS_REST_TOKEN',
      'its token (set both or neither)',
      v.optional(nonEmpty()),
      { unset: 'in-process cache and limits' },
    ),
    timeoutMs: variable(
      'CACHE_TIMEOUT_MS',
      'bound on every cache call, in milliseconds; past it the request goes on without the cache',
      v.optional(intVar(10, 10_000), '250'),
    ),
  }),
  auth: v.object({
    secretKey: variable(
      'SECRET_KEY',
      'HS256 key for JWTs (32+ characters), the same for every function; required when `ENVIRONMENT=production`',
      // Without the start-up code (a test, a tool) tokens only need to agree within this process.
      v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters')), () =>
        randomBytes(32).toString('base64url'),
      ),
      {
        section: 'Tokens and passwords',
        unset: 'a dev key generated once under `DATA_DIR` and used by every local function, with a warning',
      },
    ),
    // Arrows, not the functions themselves: bundles load node:crypto on first use, and most configs have no key.
    jwtPrivateKey: variable(
      'JWT_PRIVATE_KEY',
      'PEM (Ed25519 or RSA): tokens are signed with it and its public JWKS is published',
      v.optional(pemKey('PRIVATE KEY', (key) => createPrivateKey(key))),
    ),
    jwtPublicKey: variable(
      'JWT_PUBLIC_KEY',
      'the matching public PEM, for functions that only verify tokens',
      v.optional(pemKey('PUBLIC KEY', (key) => createPublicKey(key))),
    ),
    issuer: variable(
      'JWT_ISSUER',
      '`iss` of issued tokens, checked on every verification',
      v.optional(nonEmpty(), 'function-set'),
    ),
    audience: variable(
      'JWT_AUDIENCE',
      '`aud` of issued tokens, checked on every verification',
      v.optional(nonEmpty(), 'function-set-api'),
    ),
    accessTokenExpireMinutes: variable(
      'ACCESS_TOKEN_EXPIRE_MINUTES',
      "access token lifetime in minutes (never past its session's end)",
      v.optional(intVar(1, 60 * 24 * 30), '30'),
    ),
    refreshTokenExpireDays: variable(
      'REFRESH_TOKEN_EXPIRE_DAYS',
      'how long a session lasts from its login, in days; each refresh rotates the refresh token but never extends this (see [Sessions](#sessions))',
      v.optional(intVar(1, 365), '14'),
    ),
    bcryptCost: variable('BCRYPT_COST', 'the bcrypt cost factor (4 to 16)', v.optional(intVar(4, 16), '12')),
  }),
  firstSuperuser: v.object({
    email: variable(
      'FIRST_SUPERUSER_EMAIL',
      'address of the first superuser, created once at migration time',
      v.optional(
        v.pipe(v.string(), v.trim(), v.email('must be an email address'), v.toLowerCase()),
        'admin@example.com',
      ),
      { section: 'The first superuser' },
    ),
    password: variable(
      'FIRST_SUPERUSER_PASSWORD',
      "the first superuser's password (8 characters to 72 bytes); required when `ENVIRONMENT=production`",
      v.optional(
        v.pipe(
          v.string(),
          v.minLength(8, 'must be at least 8 characters'),
          v.check((value) => Buffer.byteLength(value) <= 72, 'must be at most 72 bytes'),
        ),
      ),
      { unset: 'generated, kept under `DATA_DIR` and printed by `npm start`' },
    ),
  }),
  corsOrigins: variable(
    'BACKEND_CORS_ORIGINS',
    'allowed browser origins, a JSON list or a comma list',
    v.optional(parsedBy(parseOrigins), '["http://localhost"]'),
    { section: 'Browsers (CORS)' },
  ),
  rateLimit: v.object({
    perAddressPerMinute: variable(
      'RATE_LIMIT_PER_MINUTE',
      'requests per minute per client address on every route (`0` = off)',
      v.optional(intVar(0, 1_000_000), '1200'),
      { section: 'Rate limits' },
    ),
    loginPerAccount: variable(
      'LOGIN_RATE_LIMIT_PER_ACCOUNT',
      'failed logins allowed per account within the window',
      v.optional(intVar(1, 10_000), '5'),
    ),
    loginPerAddress: variable(
      'LOGIN_RATE_LIMIT_PER_ADDRESS',
      'failed logins allowed per client address within the window',
      v.optional(intVar(1, 100_000), '20'),
    ),
    loginWindowSeconds: variable(
      'LOGIN_RATE_LIMIT_WINDOW_SECONDS',
      'the window of the login limits, in seconds',
      v.optional(intVar(1, 86_400), '900'),
    ),
  }),
  trustProxy: variable(
    'TRUST_PROXY',
    "whose `X-Forwarded-For` is believed for the client address the limits count by (Fastify's `trustProxy`): `true`, `false`, a hop count, or addresses and CIDR ranges, `loopback`, `linklocal` and `uniquelocal` naming the private ranges of the mesh's hops (see [Cache and rate limits](#cache-and-rate-limits))",
    v.optional(parsedBy(parseTrustProxy), DEFAULT_TRUST_PROXY),
  ),
  events: v.object({
    sink: variable(
      'K_SINK',
      'Knative SinkBinding target: item events are POSTed there as CloudEvents',
      v.optional(urlVar(['http:', 'https:'])),
      {
        section: 'Events',
        unset: 'no events',
        example: 'http://broker-ingress.knative-eventing.svc.cluster.local/default/default',
      },
    ),
    retryBaseMs: variable(
      'EVENTS_RETRY_BASE_MS',
      'first delay between delivery attempts of an event, in milliseconds (exponential, with jitter)',
      v.optional(intVar(1, 600_000), '500'),
    ),
    retryMaxMs: variable(
      'EVENTS_RETRY_MAX_MS',
      'longest delay between delivery attempts of an event, in milliseconds',
      v.optional(intVar(1, 3_600_000), '30000'),
    ),
  }),
  mail: v.object({
    /** The SMTP server; undefined: mail goes to the local inbox (development) or waits in the outbox. */
    smtp: v.pipe(
      v.object({
        host: variable(
          'SMTP_HOST',
          "the mail server (the template's names; see [E-mail](#e-mail))",
          v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty())),
          {
            section: 'E-mail',
            unset:
              'development keeps every mail in the local inbox (`DATA_DIR/mail`, shown by `npm start`), other environments keep mail queued until a server is configured',
            example: 'smtp.example.com',
          },
        ),
        port: variable('SMTP_PORT', "the mail server's port", v.optional(intVar(1, 65535)), {
          unset: '`587`, or `465` with `SMTP_SSL`',
          example: '587',
        }),
        user: variable('SMTP_USER', 'SMTP login, when the server asks for one', v.optional(v.string()), {
          unset: 'no login',
        }),
        password: variable('SMTP_PASSWORD', "the SMTP login's password", v.optional(v.string())),
        tls: variable(
          'SMTP_TLS',
          'STARTTLS, required when `true`; set it to `false` with `SMTP_SSL`',
          v.optional(boolVar, 'true'),
        ),
        ssl: variable(
          'SMTP_SSL',
          'TLS from the first byte (port 465), not with `SMTP_TLS`',
          v.optional(boolVar, 'false'),
        ),
      }),
      v.transform(({ host, port, user, password, tls, ssl }) =>
        host
          ? {
              host,
              port: port ?? (ssl ? 465 : 587),
              user,
              password,
              /** Upgrade the connection with STARTTLS (and refuse a server that cannot). */
              startTls: tls && !ssl,
              /** TLS from the first byte (port 465). */
              ssl,
            }
          : undefined,
      ),
    ),
    from: v.object({
      email: variable(
        'EMAILS_FROM_EMAIL',
        'sender of every mail',
        v.optional(v.pipe(v.string(), v.trim(), v.email('must be an email address')), 'noreply@example.com'),
      ),
      name: variable(
        'EMAILS_FROM_NAME',
        "the sender's name, which also titles the mails",
        v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty()), 'function-set'),
      ),
    }),
    frontendHost: variable(
      'FRONTEND_HOST',
      'base of the links in mails (`/reset-password?token=…`, `/verify-email?token=…`)',
      v.optional(
        v.pipe(
          urlVar(['http:', 'https:']),
          v.transform((value) => value.replace(/\/+$/, '')),
        ),
        'http://localhost:8080',
      ),
    ),
    resetTokenHours: variable(
      'EMAIL_RESET_TOKEN_EXPIRE_HOURS',
      'lifetime of a password reset link, in hours',
      v.optional(intVar(1, 24 * 7), '1'),
    ),
    verifyTokenHours: variable(
      'EMAIL_VERIFY_TOKEN_EXPIRE_HOURS',
      'lifetime of an address verification link, in hours',
      v.optional(intVar(1, 24 * 30), '48'),
    ),
    retryBaseMs: variable(
      'SMTP_RETRY_BASE_MS',
      'first delay between attempts to send one mail, in milliseconds (exponential, with jitter)',
      v.optional(intVar(1, 600_000), '1000'),
    ),
    retryMaxMs: variable(
      'SMTP_RETRY_MAX_MS',
      'longest delay between attempts to send one mail, in milliseconds',
      v.optional(intVar(1, 86_400_000), '600000'),
    ),
  }),
  otel: v.object({
    /** Where spans go over OTLP/gRPC; undefined means tracing is off and no exporter is ever loaded. */
    endpoint: v.pipe(
      v.object({
        all: variable(
          'OTEL_EXPORTER_OTLP_ENDPOINT',
          'OTLP/gRPC collector for traces',
          v.optional(urlVar(['http:', 'https:'])),
          {
            section: 'OpenTelemetry (the standard variables)',
            unset: 'tracing off, no exporter loaded',
            example: 'http://otel-collector:4317',
          },
        ),
        traces: variable(
          'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
          'the same, for traces only; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`',
          v.optional(urlVar(['http:', 'https:'])),
          { unset: '`OTEL_EXPORTER_OTLP_ENDPOINT`' },
        ),
        sdkDisabled: variable(
          'OTEL_SDK_DISABLED',
          '`true` turns tracing off even with an endpoint',
          v.optional(v.picklist(['true', 'false', 'TRUE', 'FALSE'])),
          { example: 'false' },
        ),
        exporter: variable(
          'OTEL_TRACES_EXPORTER',
          '`none` turns tracing off even with an endpoint',
          v.optional(v.picklist(['otlp', 'none'], 'must be "otlp" or "none"')),
          { example: 'otlp' },
        ),
      }),
      v.transform(({ all, traces, sdkDisabled, exporter }) =>
        sdkDisabled?.toLowerCase() === 'true' || exporter === 'none' ? undefined : (traces ?? all),
      ),
    ),
    // Only gRPC is bundled; an HTTP collector port would silently receive nothing.
    protocol: variable(
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTLP transport: only `grpc` is supported; anything else stops start-up',
      v.optional(grpcOnly()),
      { unset: '`grpc`', example: 'grpc' },
    ),
    tracesProtocol: variable(
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
      'the same, for traces only',
      v.optional(grpcOnly()),
      { unset: '`grpc`', example: 'grpc' },
    ),
    // The sampler variables are read by the SDK itself; checked here so a typo stops start-up.
    sampler: variable(
      'OTEL_TRACES_SAMPLER',
      'a standard sampler (`parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG`, …)',
      v.optional(
        v.picklist([
          'always_on',
          'always_off',
          'traceidratio',
          'parentbased_always_on',
          'parentbased_always_off',
          'parentbased_traceidratio',
        ]),
      ),
      { unset: '`parentbased_always_on`', example: 'parentbased_traceidratio' },
    ),
    samplerArg: variable(
      'OTEL_TRACES_SAMPLER_ARG',
      "the sampler's ratio, from 0 to 1",
      v.optional(
        v.pipe(v.string(), v.trim(), v.regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a ratio between 0 and 1')),
      ),
      { example: '0.1' },
    ),
    serviceName: variable('OTEL_SERVICE_NAME', '`service.name` of the spans', v.optional(nonEmpty()), {
      unset: "the function's name",
    }),
    /** Decoded; they win over the defaults (function, version, revision). */
    resourceAttributes: variable(
      'OTEL_RESOURCE_ATTRIBUTES',
      'extra resource attributes, `key=value,…` (`,` and `=` percent-encoded inside a key or a value); they win over the defaults',
      v.optional(parsedBy(parseResourceAttributes), ''),
      { unset: 'none', example: 'team=api,region=eu' },
    ),
    /** Set by Knative in every revision's pods; they name the revision on every span. */
    knative: v.object({
      service: variable(
        'K_SERVICE',
        'the Knative Service, set by Knative in every pod (never set it yourself): `knative.service` on every span',
        v.optional(v.string()),
        { section: 'Set by Knative' },
      ),
      configuration: variable(
        'K_CONFIGURATION',
        'the Knative Configuration, set by Knative in every pod: `knative.configuration` on every span',
        v.optional(v.string()),
      ),
      revision: variable(
        'K_REVISION',
        'the Knative Revision, set by Knative in every pod: `knative.revision` on every span',
        v.optional(v.string()),
      ),
    }),
  }),
});

export type Config = v.InferOutput<typeof configSchema>;
export type Environment = Config['environment'];
export type SmtpSettings = NonNullable<Config['mail']['smtp']>;

/** Rules between variables, checked on the environment itself so they are reported with every other problem. */
const RELATIONS: ((env: Env) => string | undefined)[] = [
  (env) =>
    env.ENVIRONMENT === 'production' && !env.SECRET_KEY
      ? 'SECRET_KEY: required when ENVIRONMENT=production'
      : undefined,
  (env) => {
    const origins = parseOrigins(env.BACKEND_CORS_ORIGINS ?? '');
    return env.ENVIRONMENT === 'production' && typeof origins !== 'string' && origins.includes('*')
      ? 'BACKEND_CORS_ORIGINS: "*" is not allowed when ENVIRONMENT=production'
      : undefined;
  },
  (env) =>
    /^(true|1)$/i.test(env.SMTP_TLS ?? '') && /^(true|1)$/i.test(env.SMTP_SSL ?? '')
      ? 'SMTP_TLS, SMTP_SSL: set one of them (STARTTLS, or TLS from the start), not both'
      : undefined,
  (env) =>
    Boolean(env.UPSTASH_REDIS_REST_URL) !== Boolean(env.UPSTASH_REDIS_REST_TOKEN)
      ? 'UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN: set both or neither'
      : undefined,
];

/** A variable as README.md's Configuration table and .env.example show it. */
export interface DocumentedVariable extends VariableDocs {
  name: string;
  /** What it is for, in Markdown. */
  description: string;
  /** The default as the environment would spell it; undefined when there is none (or it is made per process). */
  fallback: string | undefined;
}

interface Variable extends DocumentedVariable {
  /** Where the value sits in the schema's input (and, for most, in `Config`). */
  path: string[];
}

/** The variables the schema declares, found through the metadata `variable()` gives each of them. */
function variablesOf(schema: v.GenericSchema, path: string[] = []): Variable[] {
  const { variable: name, docs } = v.getMetadata(schema as v.SchemaWithPipe<[v.GenericSchema]>) as {
    variable?: string;
    docs?: VariableDocs;
  };
  const inner = 'pipe' in schema ? (schema.pipe as v.GenericSchema[])[0] : schema;
  if (name) {
    const fallback =
      inner && 'default' in inner && typeof inner.default === 'string' ? inner.default : undefined;
    return [{ path, name, description: v.getDescription(schema) ?? '', fallback, ...docs }];
  }
  const object = inner;
  if (!object || !('entries' in object)) return [];
  return Object.entries(object.entries as Record<string, v.GenericSchema>).flatMap(([key, entry]) =>
    variablesOf(entry, [...path, key]),
  );
}

const VARIABLES = variablesOf(configSchema);
const VARIABLE_AT = new Map(VARIABLES.map((variable) => [variable.path.join('.'), variable.name]));

/** What `databaseUrlFromParts` assumes for a seed variable left unset (the docs below quote the same). */
const POSTGRES_DEFAULTS = { port: '5432', user: 'postgres', db: 'app' };

/** The seed's variables, assembled into DATABASE_URL when it is not given (by `databaseUrlFromParts`). */
const DATABASE_URL_PARTS: DocumentedVariable[] = [
  {
    name: 'POSTGRES_SERVER',
    description:
      "the seed's alternative to `DATABASE_URL`: the server's host, from which the URL is assembled with the `POSTGRES_*` variables below",
    fallback: undefined,
    unset: '`DATABASE_URL` alone',
    example: 'localhost',
  },
  {
    name: 'POSTGRES_PORT',
    description: 'with `POSTGRES_SERVER`: its port',
    fallback: undefined,
    unset: `\`${POSTGRES_DEFAULTS.port}\``,
    example: POSTGRES_DEFAULTS.port,
  },
  {
    name: 'POSTGRES_USER',
    description: 'with `POSTGRES_SERVER`: the user',
    fallback: undefined,
    unset: `\`${POSTGRES_DEFAULTS.user}\``,
    example: POSTGRES_DEFAULTS.user,
  },
  {
    name: 'POSTGRES_PASSWORD',
    description: "with `POSTGRES_SERVER`: the user's password",
    fallback: undefined,
    unset: 'no password',
  },
  {
    name: 'POSTGRES_DB',
    description: 'with `POSTGRES_SERVER`: the database',
    fallback: undefined,
    unset: `\`${POSTGRES_DEFAULTS.db}\``,
    example: POSTGRES_DEFAULTS.db,
  },
];

/**
 * Every variable the configuration reads, in the order README.md's table and .env.example show them
 * (`npm run config-docs` writes both from this list; a test holds them to it).
 */
export const CONFIG_DOCS: readonly DocumentedVariable[] = VARIABLES.flatMap((variable) =>
  variable.name === 'DATABASE_URL' ? [variable, ...DATABASE_URL_PARTS] : [variable],
);

function databaseUrlFromParts(env: Env): string | undefined {
  const host = env.POSTGRES_SERVER;
  if (!host) return undefined;
  const user = encodeURIComponent(env.POSTGRES_USER ?? POSTGRES_DEFAULTS.user);
  const password = env.POSTGRES_PASSWORD ? `:${encodeURIComponent(env.POSTGRES_PASSWORD)}` : '';
  const port = env.POSTGRES_PORT ?? POSTGRES_DEFAULTS.port;
  const db = encodeURIComponent(env.POSTGRES_DB ?? POSTGRES_DEFAULTS.db);
  return `postgresql://${user}${password}@${host}:${port}/${db}`;
}

/** Parses the environment; reads nothing else and writes nothing. Throws one ConfigError naming every problem. */
export function loadConfig(env: Env = process.env): Config {
  // Empty strings are how many deploy tools say "unset".
  const cleaned: Env = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  cleaned.DATABASE_URL ??= databaseUrlFromParts(cleaned);
  const input: Record<string, unknown> = {};
  for (const { path, name } of VARIABLES) {
    let node = input;
    for (const key of path.slice(0, -1)) {
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    }
    node[path[path.length - 1] as string] = cleaned[name];
  }
  const parsed = v.safeParse(configSchema, input);
  const problems = parsed.success
    ? []
    : parsed.issues.map((issue) => {
        const path = v.getDotPath(issue);
        return `${(path && VARIABLE_AT.get(path)) ?? path ?? '(environment)'}: ${issue.message}`;
      });
  for (const relation of RELATIONS) {
    const problem = relation(cleaned);
    if (problem) problems.push(problem);
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return parsed.output;
}

/** Reads `.env` beside the working directory for local runs; real environment variables win. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
