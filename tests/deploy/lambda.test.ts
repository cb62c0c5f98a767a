import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { functionFolders } from './support/functions.ts';
import { repoRoot } from './support/manifests.ts';

/**
 * Every built bundle behind API Gateway (HTTP API, payload v2): the test imports dist/functions/<name>/index.mjs
 * as Lambda does (so it never listens) and invokes its `handler` export with a v2 event, against the run's real
 * database.
 */

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

interface Invocation {
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
  base64?: boolean;
}

function v2Event({
  method,
  path,
  query = '',
  headers = {},
  body,
  base64 = false,
}: Invocation): APIGatewayProxyEventV2 {
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: query,
    ...(query && { queryStringParameters: Object.fromEntries(new URLSearchParams(query)) }),
    headers: { host: 'abc123.execute-api.eu-west-1.amazonaws.com', 'user-agent': 'vitest', ...headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
    },
    ...(body !== undefined && { body: base64 ? Buffer.from(body).toString('base64') : body }),
    isBase64Encoded: base64,
  };
}

const lambdaContext = { functionName: 'test', awsRequestId: randomUUID() } as Context;

interface Answer {
  status: number;
  headers: Record<string, string>;
  json: Record<string, unknown>;
}

async function invoke(handler: Handler, request: Invocation): Promise<Answer> {
  const result = await handler(v2Event(request), lambdaContext);
  const raw = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64').toString()
    : (result.body ?? '');
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  return {
    status: result.statusCode ?? 0,
    headers,
    json: raw ? (JSON.parse(raw) as Record<string, unknown>) : {},
  };
}

let db: pg.Client;

/** One route per function, asserting what that function really does. A function missing here fails below. */
const routes: Record<string, { request: () => Invocation; check: (answer: Answer) => Promise<void> | void }> =
  {
    health: {
      request: () => ({ method: 'GET', path: '/api/health/live' }),
      check: ({ status, json }) => {
        expect(status).toBe(200);
        expect(json).toEqual({ status: 'ok' });
      },
    },
    auth: {
      request: () => ({ method: 'GET', path: '/api/auth/jwks.json' }),
      check: ({ status, json }) => {
        expect(status).toBe(200);
        expect(Array.isArray(json.keys)).toBe(true);
      },
    },
    users: {
      // API Gateway may hand the body over base64-encoded: sign up that way.
      request: () => ({
        method: 'POST',
        path: '/api/users/',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: signUpEmail, password: 'lambda-password-1', full_name: 'Via Lambda' }),
        base64: true,
      }),
      check: async ({ status, json }) => {
        expect(status).toBe(201);
        expect(json).toMatchObject({
          email: signUpEmail.toLowerCase(),
          full_name: 'Via Lambda',
          is_superuser: false,
        });
        expect(JSON.stringify(json)).not.toMatch(/password/);
        const rows = await db.query('select email from "user" where id = $1', [json.id]);
        expect(rows.rows).toEqual([{ email: signUpEmail.toLowerCase() }]);
      },
    },
    items: {
      request: () => ({ method: 'GET', path: '/api/items/', query: 'skip=0&limit=10' }),
      check: ({ status, headers, json }) => {
        expect(status).toBe(401);
        expect(headers['content-type']).toContain('application/problem+json');
        expect(headers['www-authenticate']).toMatch(/^Bearer/);
        expect(json).toMatchObject({ status: 401 });
      },
    },
    docs: {
      request: () => ({ method: 'GET', path: '/api/openapi.json' }),
      check: ({ status, json }) => {
        expect(status).toBe(200);
        expect(String(json.openapi)).toMatch(/^3\.1\./);
        expect(Object.keys(json.paths as object)).toContain('/api/health/live');
      },
    },
  };
const signUpEmail = `Lambda-${randomUUID()}@Example.com`;

beforeAll(async () => {
  // The handler reads its configuration from the environment on its first invocation, as on Lambda.
  Object.assign(process.env, {
    AWS_LAMBDA_FUNCTION_NAME: 'function-set-test',
    DATABASE_URL: inject('databaseUrl'),
    SECRET_KEY: TEST_SECRET_KEY,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'fs-lambda-')),
    RATE_LIMIT_PER_MINUTE: '0',
  });
  db = new pg.Client({ connectionString: inject('databaseUrl') });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
});

describe.each(functionFolders())('the %s bundle on Lambda (API Gateway HTTP API v2)', (name) => {
  const load = async (): Promise<Handler> => {
    const url = pathToFileURL(resolve(repoRoot, 'dist/functions', name, 'index.mjs')).href;
    const bundle = (await import(url)) as { handler?: Handler };
    expect(typeof bundle.handler, `${name} exports handler`).toBe('function');
    return bundle.handler!;
  };

  it('answers its route in the table', async () => {
    const route = routes[name];
    // A function without an entry fails: every function must be exercised on Lambda once it exists.
    expect(route, `add ${name} to the routes table of tests/deploy/lambda.test.ts`).toBeDefined();
    const answer = await invoke(await load(), route!.request());
    await route!.check(answer);
    expect(answer.headers['x-request-id']).toBeTruthy();
  });

  it('answers an unknown path with problem+json 404', async () => {
    const answer = await invoke(await load(), { method: 'GET', path: `/api/${name}-no-such-route/x` });
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toContain('application/problem+json');
  });
});
