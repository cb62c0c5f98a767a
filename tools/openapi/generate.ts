import swagger from '@fastify/swagger';
import { type ConversionConfig, toJsonSchema } from '@valibot/to-json-schema';
import type { RouteOptions } from 'fastify';
import * as v from 'valibot';
import packageJson from '../../package.json' with { type: 'json' };
import { UNLIMITED_ROUTES } from '../../shared/cache/rate-limit.ts';
import { loadConfig } from '../../shared/config.ts';
import { buildApp, type FunctionDefinition } from '../../shared/http/app.ts';
import { createContext } from '../../shared/http/context.ts';
import { QUERY_BOOLEAN, QUERY_INTEGER, type QueryIntegerBounds } from '../../shared/http/pagination.ts';
import { NEVER_SHED } from '../../shared/http/plugins/load-shedding.ts';
import { PROBLEM_CONTENT_TYPE, titleFor } from '../../shared/http/problem.ts';
import type { AnyRoute, ResponseSpec, Schema } from '../../shared/http/route.ts';
import { DOCUMENTED_CHECKS } from '../../shared/http/schemas.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';

/**
 * Builds the OpenAPI 3.1 document from the route declarations: the functions are registered on a Fastify app
 * that is never started, @fastify/swagger collects the routes, and each route's valibot schemas are converted
 * to JSON Schema. Nothing is written by hand per route, so the document cannot drift from what is enforced.
 */

export const SECURITY_SCHEME = 'OAuth2PasswordBearer';
export const TOKEN_URL = '/api/auth/token';
const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

/** RFC 9457 problem details, as `shared/http/problem.ts` writes them. */
const ProblemSchema = v.object({
  type: v.pipe(
    v.string(),
    v.description('A URI naming the kind of problem; "about:blank" when the status says it all.'),
  ),
  title: v.pipe(v.string(), v.description('The HTTP status text.')),
  status: v.pipe(v.number(), v.integer(), v.description('The HTTP status code.')),
  detail: v.pipe(v.string(), v.description('What went wrong, for a human.')),
  instance: v.optional(v.pipe(v.string(), v.description('The request path.'))),
  errors: v.optional(
    v.pipe(
      v.array(
        v.object({
          path: v.pipe(v.string(), v.description('The offending field, e.g. "body.title" or "query.limit".')),
          message: v.string(),
        }),
      ),
      v.description('One entry per invalid field (422).'),
    ),
  ),
  error: v.optional(
    v.pipe(
      v.string(),
      v.description(
        'On the token and revocation endpoints: the OAuth 2.0 error code (RFC 6749 §5.2), e.g. invalid_request, invalid_grant, unsupported_grant_type.',
      ),
    ),
  ),
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request cannot be processed.',
  405: 'This path does not take this method; Allow lists those it does.',
  500: 'An unexpected error; quote the x-request-id when reporting it.',
  401: 'Not authenticated: no token, or a bad or expired one (see WWW-Authenticate).',
  403: 'Signed in, but not allowed to do this.',
  404: 'Not found (or not yours).',
  409: 'Conflicts with existing data.',
  413: 'The body is larger than 1 MiB.',
  415: 'Unsupported content type.',
  422: 'Invalid input: one `errors` entry per invalid field.',
  429: 'Too many requests; retry after the time in Retry-After.',
  503: 'A dependency is unavailable; retry after the time in Retry-After.',
};

const ERROR_HEADERS: Record<number, Record<string, { type: string; description: string }>> = {
  401: {
    'WWW-Authenticate': {
      type: 'string',
      description: 'Bearer, with error="invalid_token" for a bad token.',
    },
  },
  405: { Allow: { type: 'string', description: 'The methods this path takes.' } },
  429: { 'Retry-After': { type: 'string', description: 'Seconds to wait before retrying.' } },
  503: { 'Retry-After': { type: 'string', description: 'Seconds to wait before retrying.' } },
};

export interface GenerateOptions {
  /** Throw on a valibot construct JSON Schema cannot express, rather than warn and leave it out. */
  strict?: boolean;
}

type JsonObject = Record<string, unknown>;

/** Transformations that keep a string a string: what a client may send is unchanged by them. */
const NORMALIZATIONS = new Set([
  'trim',
  'trim_start',
  'trim_end',
  'to_lower_case',
  'to_upper_case',
  'normalize',
]);

/**
 * Actions JSON Schema has no word for. A custom `v.check`'s message goes into the description, so the rule is
 * still in the document (e.g. "must be at most 72 bytes (UTF-8)"). A `v.transform` reached when describing a
 * response ends its pipe (valibot asks for a schema after any transform that changes the type), so it keeps
 * the type: the shared `Uuid` lower-cases, and stays a UUID string.
 */
const overrideAction: ConversionConfig['overrideAction'] = ({ valibotAction, jsonSchema }) => {
  if (NORMALIZATIONS.has(valibotAction.type) || valibotAction.type === 'transform') return jsonSchema;
  if (valibotAction.type === 'check') {
    if (DOCUMENTED_CHECKS.has(valibotAction)) return jsonSchema;
    const message = (valibotAction as { message?: unknown }).message;
    if (typeof message !== 'string') return jsonSchema;
    const description = jsonSchema.description ? `${jsonSchema.description}; ${message}` : message;
    return { ...jsonSchema, description };
  }
  return undefined;
};

/** The value a schema (or the schema an `optional` or a pipe wraps) is marked with under `key`, if any. */
function queryMark(schema: unknown, key: string): unknown {
  const node = schema as { type?: string; wrapped?: unknown; pipe?: unknown[] };
  if (node.type === 'optional') return queryMark(node.wrapped, key);
  for (const item of node.pipe ?? []) {
    const metadata = (item as { type?: string; metadata?: Record<string, unknown> }).metadata;
    if (metadata?.[key]) return metadata[key];
    // A marked schema piped on (to add a description) is the first item of the outer pipe.
    if ((item as { kind?: string }).kind === 'schema' && item !== node) {
      const inner = queryMark(item, key);
      if (inner) return inner;
    }
  }
  return undefined;
}

const queryIntegerBounds = (schema: unknown) =>
  queryMark(schema, QUERY_INTEGER) as QueryIntegerBounds | undefined;

/**
 * A query parameter marked as an integer (shared/http/pagination.ts) is sent as digits, and validated as a
 * string, but a client means a number: it is documented as an integer with its bounds and a numeric default.
 */
const overrideSchema: ConversionConfig['overrideSchema'] = ({ valibotSchema, jsonSchema }) => {
  if (queryMark(valibotSchema, QUERY_BOOLEAN)) {
    const node = valibotSchema as { type?: string; wrapped?: unknown };
    const piped = (node.type === 'optional' ? node.wrapped : node) as {
      pipe?: { type?: string; description?: string }[];
    };
    const pipe = piped.pipe ?? [];
    const description = pipe.find((item) => item.type === 'description')?.description;
    return { type: 'boolean', ...(description && { description }) };
  }
  const bounds = queryIntegerBounds(valibotSchema);
  if (!bounds) return undefined;
  const fallback = (jsonSchema as { default?: unknown }).default;
  return { type: 'integer', ...bounds, ...(fallback !== undefined && { default: Number(fallback) }) };
};

function jsonSchema(schema: Schema, typeMode: ConversionConfig['typeMode'], strict: boolean): JsonObject {
  // Requests are described by what a client sends (before any transformation), responses by what is sent.
  const { $schema: _, ...converted } = toJsonSchema(schema, {
    target: 'draft-2020-12',
    typeMode,
    errorMode: strict ? 'throw' : 'warn',
    overrideAction,
    overrideSchema,
  }) as JsonObject;
  return converted;
}

function errorResponse(status: number) {
  return {
    description: ERROR_DESCRIPTIONS[status] ?? titleFor(status),
    content: { [PROBLEM_CONTENT_TYPE.split(';')[0]!]: { schema: PROBLEM_REF } },
    ...(ERROR_HEADERS[status] && { headers: ERROR_HEADERS[status] }),
  };
}

function successResponse(response: ResponseSpec, strict: boolean) {
  const headers =
    response.headers &&
    Object.fromEntries(
      Object.entries(response.headers).map(([name, h]) => [
        name,
        { ...h.schema, description: h.description },
      ]),
    );
  if (!response.schema)
    return { type: 'null', description: response.description, ...(headers && { headers }) };
  const schema = jsonSchema(response.schema, 'output', strict);
  const mediaTypes = response.mediaTypes ?? ['application/json'];
  return {
    description: response.description,
    content: Object.fromEntries(mediaTypes.map((type) => [type, { schema }])),
    ...(headers && { headers }),
  };
}

/**
 * Statuses every caller should expect besides success: from the authenticator, the inputs, the body parser
 * (malformed, too large, another content type), the per-address rate limit, and load shedding or a database
 * that cannot answer, which every route but liveness may meet.
 */
function errorStatuses(spec: AnyRoute, url: string): number[] {
  // Any operation: another method on its path (405 with Allow), a fault (500).
  const statuses = new Set<number>([...(spec.errors ?? []), 405, 500]);
  if (spec.auth) statuses.add(401);
  if (spec.auth?.role === 'superuser') statuses.add(403);
  if (spec.params || spec.query || spec.body || spec.headers) statuses.add(422);
  if (spec.body) for (const status of [400, 413, 415]) statuses.add(status);
  if (!UNLIMITED_ROUTES.has(url)) statuses.add(429);
  if (!NEVER_SHED.includes(url)) statuses.add(503);
  return [...statuses].sort((a, b) => a - b);
}

const ROLE_NOTES = {
  user: 'Requires a signed-in user (Authorize first).',
  superuser: 'Requires a superuser.',
};

/** The @fastify/swagger schema of one route, made from its declaration. */
function routeSchema(spec: AnyRoute, url: string, functionName: string, strict: boolean): JsonObject {
  const description = [spec.description, spec.auth && ROLE_NOTES[spec.auth.role]]
    .filter(Boolean)
    .join('\n\n');
  const response: JsonObject = {};
  for (const [status, r] of Object.entries(spec.responses)) response[status] = successResponse(r, strict);
  for (const status of errorStatuses(spec, url)) response[status] ??= errorResponse(status);
  const headers = spec.headers && {
    type: 'object',
    properties: Object.fromEntries(
      Object.entries(spec.headers).map(([name, h]) => [name, { type: 'string', description: h.description }]),
    ),
    required: Object.entries(spec.headers)
      .filter(([, h]) => h.required)
      .map(([name]) => name),
  };
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    ...(description && { description }),
    tags: spec.tags ?? [functionName],
    ...(spec.auth && { security: [{ [SECURITY_SCHEME]: [] }] }),
    ...(spec.params && { params: jsonSchema(spec.params, 'input', strict) }),
    ...(spec.query && { querystring: jsonSchema(spec.query, 'input', strict) }),
    ...(headers && { headers }),
    ...(spec.body && { body: jsonSchema(spec.body, 'input', strict), consumes: spec.consumes }),
    response,
  };
}

function describeRoute(route: RouteOptions, strict: boolean) {
  const spec = route.config?.spec;
  // A route declared without defineRoute has nothing to describe; the document test reports it as missing.
  if (!spec) return { schema: { hide: true }, url: route.url };
  return { schema: routeSchema(spec, route.url, route.config?.function ?? 'api', strict), url: route.url };
}

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  servers: { url: string }[];
  tags: { name: string; description?: string }[];
  paths: Record<string, Record<string, JsonObject>>;
  components: JsonObject;
}

export async function generateOpenApiDocument(
  functions: FunctionDefinition[],
  options: GenerateOptions = {},
): Promise<OpenApiDocument> {
  const strict = options.strict ?? false;
  // A context that is never used to serve: no database or cache is ever opened (both are lazy).
  const config = loadConfig({ SECRET_KEY: 'openapi-generation-only-never-serves-0123456789' });
  const ctx = createContext('openapi', config, createLogger('openapi', 'silent'));
  const app = await buildApp(functions, ctx, {
    describe: async (app) => {
      await app.register(swagger, {
        openapi: {
          openapi: '3.1.0',
          info: {
            title: 'Function set API',
            version: packageJson.version,
            description:
              'Every endpoint of every function. Errors are application/problem+json (RFC 9457). ' +
              `Use **Authorize** to log in with your email and password (OAuth2 password flow against ${TOKEN_URL}).`,
          },
          // Relative, so the document works on whatever host and port serves it.
          servers: [{ url: '/' }],
          tags: functions.map((fn) => ({
            name: fn.name,
            description: `The ${fn.name} function (${fn.prefixes.join(', ')}).`,
          })),
          components: {
            securitySchemes: {
              [SECURITY_SCHEME]: {
                type: 'oauth2',
                description: 'Log in with your email as the username and your password.',
                flows: { password: { tokenUrl: TOKEN_URL, refreshUrl: TOKEN_URL, scopes: {} } },
              },
            },
            schemas: { Problem: jsonSchema(ProblemSchema, 'output', strict) },
          },
        },
        transform: ({ route }) => describeRoute(route, strict),
      });
    },
  });
  try {
    await app.ready();
    return app.swagger() as unknown as OpenApiDocument;
  } finally {
    await app.close();
    await ctx.close();
  }
}
