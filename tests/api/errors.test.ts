import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { notFound } from '../../shared/http/errors.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { startTestServer, type TestServer } from '../support/app.ts';

// A function made for these tests, so every error path of the shared app factory can be reached.
const probe: FunctionDefinition = {
  name: 'probe',
  prefixes: ['/api/probe'],
  routes: [
    defineRoute({
      method: 'POST',
      url: '/api/probe/things/:thing_id',
      operationId: 'probe_create',
      summary: 'probe',
      params: v.object({ thing_id: v.pipe(v.string(), v.uuid('must be a UUID')) }),
      query: v.object({ limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, 'must be a number'))) }),
      body: v.strictObject({ title: v.pipe(v.string(), v.minLength(1)), size: v.optional(v.number()) }),
      status: 201,
      responses: { 201: { description: 'made' } },
      async handler({ body, params }) {
        return { id: params.thing_id, ...body };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/probe/missing',
      operationId: 'probe_missing',
      summary: 'probe',
      responses: {},
      async handler() {
        throw notFound('That thing is not here.');
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/probe/crash',
      operationId: 'probe_crash',
      summary: 'probe',
      responses: {},
      async handler() {
        throw new Error('select * from secret_table -- password=hunter2');
      },
    }),
  ],
};

let server: TestServer;
const thing = '/api/probe/things/6f1c2b8e-3d4a-4c5b-9e6f-7a8b9c0d1e2f';

beforeAll(async () => {
  server = await startTestServer([probe], {
    BACKEND_CORS_ORIGINS: 'http://app.example.com,http://localhost:5173',
  });
});
afterAll(() => server.stop());

async function problemOf(response: Response) {
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({
    type: expect.any(String),
    title: expect.any(String),
    status: response.status,
  });
  expect(typeof body.detail).toBe('string');
  return body;
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('success', () => {
  it('answers with and without a trailing slash, no redirect', async () => {
    for (const path of [thing, `${thing}/`]) {
      const response = await server.api(path, json({ title: 'a' }));
      expect(response.status).toBe(201);
      expect(await response.json()).toEqual({ id: thing.split('/').pop(), title: 'a' });
    }
  });
});

describe('errors are problem+json', () => {
  it('404 for an unknown route', async () => {
    const response = await server.api('/api/nowhere');
    expect(response.status).toBe(404);
    await problemOf(response);
  });

  it('405 with Allow for a known path and the wrong method', async () => {
    const response = await server.api(thing, { method: 'DELETE' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toContain('POST');
    await problemOf(response);
  });

  it('404 from a handler keeps its detail', async () => {
    const response = await server.api('/api/probe/missing');
    expect(response.status).toBe(404);
    expect((await problemOf(response)).detail).toBe('That thing is not here.');
  });

  it('413 for a body over 1 MiB', async () => {
    const response = await server.api(thing, json({ title: 'x'.repeat(1024 * 1024 + 10) }));
    expect(response.status).toBe(413);
    await problemOf(response);
  });

  it('415 for an unsupported content type', async () => {
    for (const type of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x']) {
      const response = await server.api(thing, {
        method: 'POST',
        headers: { 'content-type': type },
        body: 'title=a',
      });
      expect(response.status).toBe(415);
      await problemOf(response);
    }
  });

  it('400 for malformed JSON and for prototype pollution', async () => {
    for (const body of ['{"title": ', '{"title":"a","__proto__":{"admin":true}}']) {
      const response = await server.api(thing, json(body));
      expect(response.status).toBe(400);
      await problemOf(response);
    }
  });

  it('422 naming every invalid field: path, query and body together', async () => {
    const response = await server.api(
      '/api/probe/things/not-a-uuid?limit=abc',
      json({ title: '', extra: 1 }),
    );
    expect(response.status).toBe(422);
    const body = await problemOf(response);
    const paths = (body.errors as { path: string; message: string }[]).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining(['path.thing_id', 'query.limit', 'body.title', 'body.extra']),
    );
  });

  it('422 for an over-long path parameter rather than a router error', async () => {
    const response = await server.api(`/api/probe/things/${'a'.repeat(500)}`, json({ title: 'a' }));
    expect(response.status).toBe(422);
    await problemOf(response);
  });

  it('400 for a malformed URL', async () => {
    const response = await server.api('/api/probe/things/%E0%A4%A', json({ title: 'a' }));
    expect(response.status).toBe(400);
    await problemOf(response);
  });

  it('500 reveals nothing internal and quotes the request id', async () => {
    const response = await server.api('/api/probe/crash', { headers: { 'x-request-id': 'trace-me-123' } });
    expect(response.status).toBe(500);
    const body = await problemOf(response);
    expect(JSON.stringify(body)).not.toMatch(/secret_table|hunter2|stack|\.ts:\d/);
    expect(body.detail).toContain('trace-me-123');
  });
});

describe('headers', () => {
  it('echoes a given x-request-id and makes one otherwise', async () => {
    const given = await server.api('/api/nowhere', { headers: { 'x-request-id': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    const made = await server.api('/api/nowhere');
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = await server.api('/api/nowhere', { headers: { 'x-request-id': 'a b<script>' } });
    expect(unsafe.headers.get('x-request-id')).not.toContain('<');
  });

  it('sets security headers', async () => {
    const response = await server.api('/api/nowhere');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('allows only the configured CORS origins', async () => {
    const preflight = (origin: string) =>
      server.api(thing, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
    const allowed = await preflight('http://localhost:5173');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const denied = await preflight('http://evil.example.com');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
  });
});
