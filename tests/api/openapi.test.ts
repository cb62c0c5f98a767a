import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import type { AnyRoute } from '../../shared/http/route.ts';
import { generateOpenApiDocument, type OpenApiDocument } from '../../tools/openapi/generate.ts';
import { startTestServer, type TestServer } from '../support/app.ts';

// The document served by the all-in-one app, checked against the routes that very app registers.

type JsonObject = Record<string, unknown>;
interface Operation {
  operationId: string;
  summary: string;
  tags: string[];
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema: JsonObject }> };
  responses: Record<string, { content?: Record<string, { schema: JsonObject }> }>;
}

const registered: { method: string; url: string; spec: AnyRoute | undefined }[] = [];
let server: TestServer;
let document: OpenApiDocument;

const key = (method: string, path: string) => `${method.toUpperCase()} ${path}`;
/** Fastify's `/api/items/:item_id` is OpenAPI's `/api/items/{item_id}`. */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

function operations(): [string, Operation][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(
      ([method, op]) => [key(method, path), op as unknown as Operation] as [string, Operation],
    ),
  );
}

function specOf(operationKey: string): AnyRoute {
  const found = registered.find((r) => key(r.method, openApiPath(r.url)) === operationKey)?.spec;
  if (!found) throw new Error(`no route spec for ${operationKey}`);
  return found;
}

beforeAll(async () => {
  server = await startTestServer(
    allFunctions,
    {},
    {
      describe: (app) => {
        app.addHook('onRoute', (route) => {
          for (const method of [route.method].flat())
            registered.push({ method, url: route.url, spec: route.config?.spec });
        });
      },
    },
  );
  const response = await server.api('/api/openapi.json');
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('application/json');
  document = (await response.json()) as OpenApiDocument;
});

afterAll(() => server?.stop());

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(document) as unknown as Parameters<Validator['validate']>[0],
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(document.openapi).toBe('3.1.0');
  });

  it('describes exactly the routes the functions register: nothing missing, nothing extra', () => {
    const served = registered
      // Fastify answers HEAD for every GET (described by the GET); the CORS plugin answers every preflight.
      .filter((r) => r.method !== 'HEAD' && !(r.method === 'OPTIONS' && r.url === '*'))
      .map((r) => key(r.method, openApiPath(r.url)));
    const documented = operations().map(([k]) => k);
    expect(served.length).toBeGreaterThan(0);
    expect(new Set(served).size).toBe(served.length);
    expect([...documented].sort()).toEqual([...served].sort());
    // Every function's routes are in it, and every route was declared with defineRoute.
    for (const fn of allFunctions)
      for (const route of fn.routes) expect(documented).toContain(key(route.method, openApiPath(route.url)));
    expect(registered.filter((r) => r.method !== 'HEAD' && r.url !== '*' && !r.spec)).toEqual([]);
  });

  it('is what the build embeds, and converts every schema without loss', async () => {
    // strict: any valibot construct JSON Schema cannot express fails here rather than vanishing from the document
    const strict = await generateOpenApiDocument(allFunctions, { strict: true });
    expect(JSON.parse(JSON.stringify(strict))).toEqual(document);
  });

  it('has unique operation ids, a summary, and a tag per function (docs under "docs")', () => {
    const ids = operations().map(([, op]) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    const tagNames = document.tags.map((t) => t.name);
    for (const fn of allFunctions) expect(tagNames).toContain(fn.name);
    for (const [k, op] of operations()) {
      expect(op.summary, k).toBeTruthy();
      expect(op.tags.length, k).toBeGreaterThan(0);
      for (const tag of op.tags) expect(tagNames, k).toContain(tag);
    }
    const docsFunction = allFunctions.find((fn) => fn.name === 'docs')!;
    for (const route of docsFunction.routes) {
      const op = operations().find(([k]) => k === key(route.method, openApiPath(route.url)))![1];
      expect(op.tags).toEqual(['docs']);
    }
  });

  it('is relative to the host that serves it', () => {
    expect(document.servers).toEqual([{ url: '/' }]);
  });

  it('logs in with the OAuth2 password flow, and protected operations use it', () => {
    const schemes = (document.components as { securitySchemes: JsonObject }).securitySchemes;
    expect(schemes).toEqual({
      OAuth2PasswordBearer: expect.objectContaining({
        type: 'oauth2',
        flows: { password: { tokenUrl: '/api/auth/token', refreshUrl: '/api/auth/token', scopes: {} } },
      }),
    });
    for (const [k, op] of operations()) {
      const spec = specOf(k);
      if (spec.auth) {
        expect(op.security, k).toEqual([{ OAuth2PasswordBearer: [] }]);
        expect(op.responses['401'], k).toBeDefined();
        if (spec.auth.role === 'superuser') expect(op.responses['403'], k).toBeDefined();
      } else {
        expect(op.security, k).toBeUndefined();
      }
    }
  });

  it('describes errors as problem+json with a shared Problem schema', () => {
    const problem = (document.components as { schemas: Record<string, JsonObject> }).schemas.Problem!;
    expect(problem.required).toEqual(['type', 'title', 'status', 'detail']);
    for (const [k, op] of operations()) {
      const spec = specOf(k);
      const expected = new Set([...(spec.errors ?? []), 405, 500]);
      if (spec.body) for (const status of [400, 413, 415]) expected.add(status);
      if (spec.params || spec.query || spec.body || spec.headers) expected.add(422);
      for (const status of expected) expect(Object.keys(op.responses), k).toContain(String(status));
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) < 400) continue;
        expect(response.content, `${k} ${status}`).toEqual({
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        });
      }
    }
  });

  it('closes request bodies that reject unknown fields', () => {
    for (const [k, op] of operations()) {
      const spec = specOf(k);
      if (!spec.body) continue;
      for (const media of Object.values(op.requestBody!.content)) {
        const closed = media.schema.additionalProperties === false;
        expect(closed, k).toBe(spec.body.type === 'strict_object');
      }
    }
  });

  it('marks every field a success response always has as required', () => {
    const optionalFields: string[] = [];
    const walk = (schema: unknown, where: string) => {
      if (!schema || typeof schema !== 'object') return;
      const s = schema as JsonObject;
      if (s.properties && typeof s.properties === 'object') {
        const required = new Set((s.required as string[] | undefined) ?? []);
        for (const [name, child] of Object.entries(s.properties as JsonObject)) {
          if (!required.has(name)) optionalFields.push(`${where}.${name}`);
          walk(child, `${where}.${name}`);
        }
      }
      if (s.items) walk(s.items, `${where}[]`);
      for (const union of ['anyOf', 'oneOf', 'allOf'] as const)
        for (const member of (s[union] as unknown[] | undefined) ?? []) walk(member, where);
    };
    for (const [k, op] of operations())
      for (const [status, response] of Object.entries(op.responses))
        if (Number(status) < 300)
          for (const media of Object.values(response.content ?? {})) walk(media.schema, `${k} ${status}`);
    // The contract's shapes (user, item, lists, health) have no optional field. A JWK's members do vary by key
    // type and use (RFC 7517), and a token response has no refresh_token when the cookie carries it: those are
    // the only ones allowed to be optional.
    const mayVary = [
      /^GET \/api\/auth\/jwks\.json 200\.keys\[\]\./,
      /^POST \/api\/auth\/token 200\.refresh_token$/,
    ];
    expect(optionalFields.filter((f) => !mayVary.some((pattern) => pattern.test(f)))).toEqual([]);
  });

  it('shows every limit the server enforces on a request string: lengths, characters, formats', () => {
    const unlimited: string[] = [];
    const walk = (schema: unknown, where: string) => {
      if (!schema || typeof schema !== 'object') return;
      const s = schema as JsonObject;
      if (s.type === 'string' && !s.enum && s.const === undefined && !s.format?.toString().startsWith('uuid'))
        if (typeof s.maxLength !== 'number' || typeof s.pattern !== 'string') unlimited.push(where);
      for (const [name, child] of Object.entries((s.properties as JsonObject | undefined) ?? {}))
        walk(child, `${where}.${name}`);
      for (const union of ['anyOf', 'oneOf', 'allOf'] as const)
        for (const member of (s[union] as unknown[] | undefined) ?? []) walk(member, where);
    };
    for (const [k, op] of operations())
      for (const [media, { schema }] of Object.entries(op.requestBody?.content ?? {}))
        walk(schema, `${k} ${media}`);
    expect(unlimited).toEqual([]);

    const field = (operationKey: string, name: string) => {
      const op = operations().find(([k]) => k === operationKey)![1];
      const schema = op.requestBody!.content['application/json']!.schema;
      const property = (schema.properties as Record<string, JsonObject>)[name]!;
      return (property.anyOf as JsonObject[] | undefined)?.find((s) => s.type === 'string') ?? property;
    };
    const signUp = (name: string) => field('POST /api/users/', name);
    expect(signUp('password')).toMatchObject({ minLength: 8, maxLength: 72 });
    expect(signUp('password').description).toMatch(/72 bytes/);
    expect(signUp('email')).toMatchObject({ format: 'email', maxLength: 320 });
    expect(field('POST /api/items/', 'title')).toMatchObject({ minLength: 1, maxLength: 255 });
    expect(field('POST /api/items/', 'description')).toMatchObject({ maxLength: 255 });
    expect(field('POST /api/auth/token', 'username')).toMatchObject({ minLength: 1, maxLength: 320 });

    // A client validating with the document agrees with the server: NUL and broken pairs out, emoji counted once.
    const ajv = new Ajv2020({ strict: false });
    const title = ajv.compile(field('POST /api/items/', 'title'));
    const description = ajv.compile(field('POST /api/items/', 'description'));
    expect(['a\u0000b', 'a\ud800', 'a\nb', '', '😀'.repeat(256)].filter((value) => title(value))).toEqual([]);
    expect(['ok', '😀'.repeat(255)].every((value) => title(value))).toBe(true);
    expect(description('two\nlines\twith a tab')).toBe(true);
    expect(description('a\u0000b')).toBe(false);
  });

  it('shows no password or hash in any response', () => {
    for (const [k, op] of operations())
      for (const response of Object.values(op.responses))
        expect(JSON.stringify(response.content ?? {}), k).not.toMatch(/"[a-z_]*(password|hash)[a-z_]*":/);
  });
});
