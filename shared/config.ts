import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import proxyAddr from '@fastify/proxy-addr';
import * as v from 'valibot';
import { LEVEL_NAMES, type Level } from './telemetry/levels.ts';

/**
 * The environment of CONTRACT.md, parsed once and typed. Every function reads its settings from here, so a
 * misconfigured deployment fails at start-up with one message naming every bad variable, rather than at the
 * first request that happens to need it.
 */

export type Environment = 'development' | 'staging' | 'production';

export interface Config {
  environment: Environment;
  port: number;
  /** Requests served at once by one process; past it, 503 at once (0 = no limit). */
  maxInFlightRequests: number;
  logLevel: Level;
  dataDir: string;
  database: {
    url: string | undefined;
    poolMax: number;
    /** Requests that may wait for a pooled connection; past it, 503 at once rather than a growing queue. */
    poolQueueMax: number;
    connectTimeoutMs: number;
    statementTimeoutMs: number;
  };
  cache: { upstashUrl: string | undefined; upstashToken: string | undefined; timeoutMs: number };
  auth: {
    secretKey: string;
    secretKeyGenerated: boolean;
    jwtPrivateKey: string | undefined;
    /** Verify-only functions get the public half (PEM) instead of the private key. */
    jwtPublicKey: string | undefined;
    issuer: string;
    audience: string;
    accessTokenExpireMinutes: number;
    /** A session's lifetime from its login; refreshes never extend it. */
    refreshTokenExpireDays: number;
    bcryptCost: number;
  };
  firstSuperuser: { email: string; password: string | undefined };
  corsOrigins: string[];
  /** Which peers' X-Forwarded-For is believed for the client address (Fastify's `trustProxy`). */
  trustProxy: boolean | number | string[];
  rateLimit: {
    perAddressPerMinute: number;
    loginPerAccount: number;
    loginPerAddress: number;
    loginWindowSeconds: number;
  };
  events: { sink: string | undefined; retryBaseMs: number; retryMaxMs: number };
  mail: {
    /** The SMTP server; undefined: mail goes to the local inbox (development) or waits in the outbox. */
    smtp: SmtpSettings | undefined;
    from: { email: string; name: string };
    /** Base of the links in mails. */
    frontendHost: string;
    resetTokenHours: number;
    verifyTokenHours: number;
    retryBaseMs: number;
    retryMaxMs: number;
    /** Where mail is kept, as .eml files, when no SMTP server is configured (local runs). */
    inboxDir: string;
  };
  otel: {
    /** Where spans go over OTLP/gRPC; undefined means tracing is off and no exporter is ever loaded. */
    endpoint: string | undefined;
    serviceName: string | undefined;
    /** OTEL_RESOURCE_ATTRIBUTES, decoded; they win over the defaults (function, version, revision). */
    resourceAttributes: Record<string, string>;
    /** Set by Knative in every revision's pods; they name the revision on every span. */
    knative: { service: string | undefined; configuration: string | undefined; revision: string | undefined };
  };
}

/** The template's SMTP_* variables. */
export interface SmtpSettings {
  host: string;
  port: number;
  user: string | undefined;
  password: string | undefined;
  /** SMTP_TLS: upgrade the connection with STARTTLS (and refuse a server that cannot). */
  startTls: boolean;
  /** SMTP_SSL: TLS from the first byte (port 465). */
  ssl: boolean;
}

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

const boolVar = v.pipe(
  v.string(),
  v.trim(),
  v.toLowerCase(),
  v.picklist(['true', 'false', '1', '0'], 'must be true or false'),
  v.transform((value) => value === 'true' || value === '1'),
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

const envSchema = v.object({
  ENVIRONMENT: v.optional(v.picklist(['development', 'staging', 'production']), 'development'),
  PORT: v.optional(intVar(1, 65535), '8080'),
  MAX_IN_FLIGHT_REQUESTS: v.optional(intVar(0, 100_000), '256'),
  LOG_LEVEL: v.optional(v.picklist(LEVEL_NAMES), 'info'),
  DATA_DIR: v.optional(v.string(), '.data'),
  DATABASE_URL: v.optional(urlVar(['postgres:', 'postgresql:'])),
  DB_POOL_MAX: v.optional(intVar(1, 100), '5'),
  DB_POOL_QUEUE_MAX: v.optional(intVar(0, 10_000), '50'),
  DB_CONNECT_TIMEOUT_MS: v.optional(intVar(100, 60_000), '3000'),
  DB_STATEMENT_TIMEOUT_MS: v.optional(intVar(100, 600_000), '10000'),
  UPSTASH_REDIS_REST_URL: v.optional(urlVar(['http:', 'https:'])),
  UPSTASH_REDIS_REST_TOKEN: v.optional(v.pipe(v.string(), v.minLength(1))),
  CACHE_TIMEOUT_MS: v.optional(intVar(10, 10_000), '250'),
  SECRET_KEY: v.optional(v.pipe(v.string(), v.minLength(32, 'must be at least 32 characters'))),
  JWT_PRIVATE_KEY: v.optional(
    v.pipe(v.string(), v.includes('PRIVATE KEY', 'must be a PEM private key (Ed25519 or RSA)')),
  ),
  JWT_PUBLIC_KEY: v.optional(
    v.pipe(v.string(), v.includes('PUBLIC KEY', 'must be a PEM public key (Ed25519 or RSA)')),
  ),
  JWT_ISSUER: v.optional(v.pipe(v.string(), v.minLength(1)), 'function-set'),
  JWT_AUDIENCE: v.optional(v.pipe(v.string(), v.minLength(1)), 'function-set-api'),
  ACCESS_TOKEN_EXPIRE_MINUTES: v.optional(intVar(1, 60 * 24 * 30), '30'),
  REFRESH_TOKEN_EXPIRE_DAYS: v.optional(intVar(1, 365), '14'),
  BCRYPT_COST: v.optional(intVar(4, 16), '12'),
  FIRST_SUPERUSER_EMAIL: v.optional(
    v.pipe(v.string(), v.trim(), v.email('must be an email address')),
    'admin@example.com',
  ),
  FIRST_SUPERUSER_PASSWORD: v.optional(
    v.pipe(
      v.string(),
      v.minLength(8, 'must be at least 8 characters'),
      v.check((value) => Buffer.byteLength(value) <= 72, 'must be at most 72 bytes'),
    ),
  ),
  BACKEND_CORS_ORIGINS: v.optional(v.string(), '["http://localhost"]'),
  RATE_LIMIT_PER_MINUTE: v.optional(intVar(0, 1_000_000), '1200'),
  TRUST_PROXY: v.optional(v.string(), DEFAULT_TRUST_PROXY),
  LOGIN_RATE_LIMIT_PER_ACCOUNT: v.optional(intVar(1, 10_000), '5'),
  LOGIN_RATE_LIMIT_PER_ADDRESS: v.optional(intVar(1, 100_000), '20'),
  LOGIN_RATE_LIMIT_WINDOW_SECONDS: v.optional(intVar(1, 86_400), '900'),
  K_SINK: v.optional(urlVar(['http:', 'https:'])),
  EVENTS_RETRY_BASE_MS: v.optional(intVar(1, 600_000), '500'),
  EVENTS_RETRY_MAX_MS: v.optional(intVar(1, 3_600_000), '30000'),
  SMTP_HOST: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty())),
  SMTP_PORT: v.optional(intVar(1, 65535)),
  SMTP_USER: v.optional(v.string()),
  SMTP_PASSWORD: v.optional(v.string()),
  SMTP_TLS: v.optional(boolVar, 'true'),
  SMTP_SSL: v.optional(boolVar, 'false'),
  SMTP_RETRY_BASE_MS: v.optional(intVar(1, 600_000), '1000'),
  SMTP_RETRY_MAX_MS: v.optional(intVar(1, 86_400_000), '600000'),
  EMAILS_FROM_EMAIL: v.optional(
    v.pipe(v.string(), v.trim(), v.email('must be an email address')),
    'noreply@example.com',
  ),
  EMAILS_FROM_NAME: v.optional(v.pipe(v.string(), v.trim(), v.nonEmpty()), 'function-set'),
  FRONTEND_HOST: v.optional(urlVar(['http:', 'https:']), 'http://localhost:8080'),
  EMAIL_RESET_TOKEN_EXPIRE_HOURS: v.optional(intVar(1, 24 * 7), '1'),
  EMAIL_VERIFY_TOKEN_EXPIRE_HOURS: v.optional(intVar(1, 24 * 30), '48'),
  OTEL_EXPORTER_OTLP_ENDPOINT: v.optional(urlVar(['http:', 'https:'])),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: v.optional(urlVar(['http:', 'https:'])),
  OTEL_SERVICE_NAME: v.optional(v.pipe(v.string(), v.minLength(1))),
  OTEL_SDK_DISABLED: v.optional(v.picklist(['true', 'false', 'TRUE', 'FALSE'])),
  OTEL_TRACES_EXPORTER: v.optional(v.picklist(['otlp', 'none'], 'must be "otlp" or "none"')),
  // Only gRPC is bundled; an HTTP collector port would silently receive nothing.
  OTEL_EXPORTER_OTLP_PROTOCOL: v.optional(
    v.literal('grpc', 'must be "grpc" (the only OTLP transport built in)'),
  ),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: v.optional(
    v.literal('grpc', 'must be "grpc" (the only OTLP transport built in)'),
  ),
  OTEL_TRACES_SAMPLER: v.optional(
    v.picklist([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ]),
  ),
  OTEL_TRACES_SAMPLER_ARG: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^(0(\.\d+)?|1(\.0+)?)$/, 'must be a ratio between 0 and 1')),
  ),
  OTEL_RESOURCE_ATTRIBUTES: v.optional(v.string()),
  K_SERVICE: v.optional(v.string()),
  K_CONFIGURATION: v.optional(v.string()),
  K_REVISION: v.optional(v.string()),
});

/** Every variable the configuration reads (tests check that README.md and .env.example document each one). */
export const CONFIG_VARIABLES = [
  ...Object.keys(envSchema.entries),
  'POSTGRES_SERVER',
  'POSTGRES_PORT',
  'POSTGRES_USER',
  'POSTGRES_PASSWORD',
  'POSTGRES_DB',
];

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

/** PEM keys arrive with literal "\\n" when set through a one-line environment variable. */
const pem = (value: string | undefined) => value?.replace(/\\n/g, '\n');

/**
 * Parses a JWT key here, at start-up, so a wrong key (not PEM, EC, RSA under 2048 bits) stops the process
 * with its variable named instead of failing every token request later.
 */
function jwtKeyProblem(
  name: string,
  value: string | undefined,
  marker: string,
  parse: (key: string) => KeyObject,
) {
  // Without the PEM marker the schema has already named the variable.
  if (!value?.includes(marker)) return undefined;
  let key: KeyObject;
  try {
    key = parse(value);
  } catch {
    return `${name}: is not a readable PEM key`;
  }
  if (key.asymmetricKeyType === 'ed25519') return undefined;
  if (key.asymmetricKeyType === 'rsa')
    return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048
      ? undefined
      : `${name}: RSA keys must have at least 2048 bits`;
  return `${name}: must be an Ed25519 or RSA key, not ${key.asymmetricKeyType}`;
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

/** The seed's POSTGRES_* variables, assembled into one URL when DATABASE_URL is not given. */
function databaseUrlFromParts(env: Env): string | undefined {
  const host = env.POSTGRES_SERVER;
  if (!host) return undefined;
  const user = encodeURIComponent(env.POSTGRES_USER ?? 'postgres');
  const password = env.POSTGRES_PASSWORD ? `:${encodeURIComponent(env.POSTGRES_PASSWORD)}` : '';
  const port = env.POSTGRES_PORT ?? '5432';
  const db = encodeURIComponent(env.POSTGRES_DB ?? 'app');
  return `postgresql://${user}${password}@${host}:${port}/${db}`;
}

/** A dev-only value kept under the data dir, so every local function (and every restart) agrees on it. */
export function devValue(dataDir: string, name: string, make: () => string): string {
  const file = resolve(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  // Empty strings are how many deploy tools say "unset".
  const cleaned: Env = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  if (!cleaned.DATABASE_URL) {
    const fromParts = databaseUrlFromParts(cleaned);
    if (fromParts) cleaned.DATABASE_URL = fromParts;
  }
  const parsed = v.safeParse(envSchema, cleaned);
  if (!parsed.success) {
    for (const issue of parsed.issues) {
      const key = v.getDotPath(issue) ?? '(environment)';
      problems.push(`${key}: ${issue.message}`);
    }
  }
  const origins = parseOrigins(cleaned.BACKEND_CORS_ORIGINS ?? '["http://localhost"]');
  if (typeof origins === 'string') problems.push(`BACKEND_CORS_ORIGINS: ${origins}`);
  const trustProxy = parseTrustProxy(cleaned.TRUST_PROXY ?? DEFAULT_TRUST_PROXY);
  if (typeof trustProxy === 'string') problems.push(`TRUST_PROXY: ${trustProxy}`);
  const environment = (cleaned.ENVIRONMENT ?? 'development') as Environment;
  if (environment === 'production') {
    if (!cleaned.SECRET_KEY) problems.push('SECRET_KEY: required when ENVIRONMENT=production');
    if (typeof origins !== 'string' && origins.includes('*'))
      problems.push('BACKEND_CORS_ORIGINS: "*" is not allowed when ENVIRONMENT=production');
  }
  const resourceAttributes = parseResourceAttributes(cleaned.OTEL_RESOURCE_ATTRIBUTES ?? '');
  if (typeof resourceAttributes === 'string')
    problems.push(`OTEL_RESOURCE_ATTRIBUTES: ${resourceAttributes}`);
  if (/^(true|1)$/i.test(cleaned.SMTP_TLS ?? '') && /^(true|1)$/i.test(cleaned.SMTP_SSL ?? ''))
    problems.push('SMTP_TLS, SMTP_SSL: set one of them (STARTTLS, or TLS from the start), not both');
  if (Boolean(cleaned.UPSTASH_REDIS_REST_URL) !== Boolean(cleaned.UPSTASH_REDIS_REST_TOKEN))
    problems.push('UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN: set both or neither');
  // Arrows, not the functions themselves: bundles load node:crypto on first use, and most configs have no key.
  for (const problem of [
    jwtKeyProblem('JWT_PRIVATE_KEY', pem(cleaned.JWT_PRIVATE_KEY), 'PRIVATE KEY', (key) =>
      createPrivateKey(key),
    ),
    jwtKeyProblem('JWT_PUBLIC_KEY', pem(cleaned.JWT_PUBLIC_KEY), 'PUBLIC KEY', (key) => createPublicKey(key)),
  ])
    if (problem) problems.push(problem);
  if (
    problems.length > 0 ||
    !parsed.success ||
    typeof origins === 'string' ||
    typeof resourceAttributes === 'string' ||
    typeof trustProxy === 'string'
  )
    throw new ConfigError(problems);

  const e = parsed.output;
  const secretKeyGenerated = !e.SECRET_KEY;
  const tracesOff = e.OTEL_SDK_DISABLED?.toLowerCase() === 'true' || e.OTEL_TRACES_EXPORTER === 'none';
  const secretKey =
    e.SECRET_KEY ?? devValue(e.DATA_DIR, 'dev-secret-key', () => randomBytes(32).toString('base64url'));
  return {
    environment,
    port: e.PORT,
    maxInFlightRequests: e.MAX_IN_FLIGHT_REQUESTS,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DB_POOL_MAX,
      poolQueueMax: e.DB_POOL_QUEUE_MAX,
      connectTimeoutMs: e.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
    },
    cache: {
      upstashUrl: e.UPSTASH_REDIS_REST_URL,
      upstashToken: e.UPSTASH_REDIS_REST_TOKEN,
      timeoutMs: e.CACHE_TIMEOUT_MS,
    },
    auth: {
      secretKey,
      secretKeyGenerated,
      jwtPrivateKey: pem(e.JWT_PRIVATE_KEY),
      jwtPublicKey: pem(e.JWT_PUBLIC_KEY),
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      accessTokenExpireMinutes: e.ACCESS_TOKEN_EXPIRE_MINUTES,
      refreshTokenExpireDays: e.REFRESH_TOKEN_EXPIRE_DAYS,
      bcryptCost: e.BCRYPT_COST,
    },
    firstSuperuser: { email: e.FIRST_SUPERUSER_EMAIL.toLowerCase(), password: e.FIRST_SUPERUSER_PASSWORD },
    corsOrigins: origins,
    trustProxy,
    rateLimit: {
      perAddressPerMinute: e.RATE_LIMIT_PER_MINUTE,
      loginPerAccount: e.LOGIN_RATE_LIMIT_PER_ACCOUNT,
      loginPerAddress: e.LOGIN_RATE_LIMIT_PER_ADDRESS,
      loginWindowSeconds: e.LOGIN_RATE_LIMIT_WINDOW_SECONDS,
    },
    events: { sink: e.K_SINK, retryBaseMs: e.EVENTS_RETRY_BASE_MS, retryMaxMs: e.EVENTS_RETRY_MAX_MS },
    mail: {
      smtp: e.SMTP_HOST
        ? {
            host: e.SMTP_HOST,
            port: e.SMTP_PORT ?? (e.SMTP_SSL ? 465 : 587),
            user: e.SMTP_USER,
            password: e.SMTP_PASSWORD,
            startTls: e.SMTP_TLS && !e.SMTP_SSL,
            ssl: e.SMTP_SSL,
          }
        : undefined,
      from: { email: e.EMAILS_FROM_EMAIL, name: e.EMAILS_FROM_NAME },
      frontendHost: e.FRONTEND_HOST.replace(/\/+$/, ''),
      resetTokenHours: e.EMAIL_RESET_TOKEN_EXPIRE_HOURS,
      verifyTokenHours: e.EMAIL_VERIFY_TOKEN_EXPIRE_HOURS,
      retryBaseMs: e.SMTP_RETRY_BASE_MS,
      retryMaxMs: e.SMTP_RETRY_MAX_MS,
      inboxDir: resolve(e.DATA_DIR, 'mail'),
    },
    otel: {
      endpoint: tracesOff
        ? undefined
        : (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? e.OTEL_EXPORTER_OTLP_ENDPOINT),
      serviceName: e.OTEL_SERVICE_NAME,
      resourceAttributes,
      knative: { service: e.K_SERVICE, configuration: e.K_CONFIGURATION, revision: e.K_REVISION },
    },
  };
}

/** Reads `.env` beside the working directory for local runs; real environment variables win. */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}
