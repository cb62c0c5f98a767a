import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { type RawResponse, rawRequest } from '../support/raw-http.ts';

// Method first, then media type: a known path asked with a method it does not take answers 405 with Allow,
// an unknown path 404, whatever body and content type come with the request (no 415, 413 or 400 first).

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(allFunctions);
});
afterAll(() => server.stop());

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
const BODIES: { type?: string; body: string }[] = [
  { type: 'application/json', body: '{"username":"a@example.com"}' },
  { type: 'application/json', body: '{not json' },
  { type: 'application/x-www-form-urlencoded', body: 'username=a%40example.com&password=x' },
  { type: 'text/plain', body: 'hello' },
  { type: 'multipart/form-data; boundary=x', body: '--x--' },
  { type: 'application/xml', body: '<a/>' },
  { body: 'no content type' },
];

/**
 * Each path the functions serve (a sample value in each parameter), and the methods it takes: those of every
 * route it matches (/api/users/me is also a /api/users/{user_id}).
 */
function knownPaths() {
  const routes = allFunctions.flatMap((fn) => fn.routes);
  const matches = (url: string, path: string) =>
    new RegExp(`^${url.replace(/:\w+/g, '[^/]+').replace(/\/$/, '')}/?$`).test(path);
  const paths = new Map<string, Set<string>>();
  for (const route of routes) {
    const path = route.url.replace(/:\w+/g, '6f1c2b8e-3d4a-4c5b-9e6f-7a8b9c0d1e2f');
    const methods = routes.filter((r) => matches(r.url, path)).map((r) => r.method as string);
    paths.set(path, new Set(methods.includes('GET') ? [...methods, 'HEAD'] : methods));
  }
  return paths;
}

function send(method: string, path: string, { type, body }: { type?: string; body: string }) {
  return rawRequest(server.url, { method, path, headers: type ? { 'content-type': type } : {}, body });
}

function expectProblem(response: RawResponse, status: number, label: string) {
  expect(response.status, label).toBe(status);
  expect(response.headers['content-type'], label).toMatch(/^application\/problem\+json/);
  expect(response.headers['x-request-id'], label).toBeTruthy();
}

describe('method before media type', () => {
  it('405 with Allow on every known path for every other method, whatever the body', async () => {
    expect(knownPaths().get('/api/auth/token')).toEqual(new Set(['POST']));
    for (const [path, allowed] of knownPaths()) {
      for (const method of METHODS.filter((m) => !allowed.has(m))) {
        for (const body of BODIES) {
          const response = await send(method, path, body);
          const label = `${method} ${path} ${body.type ?? '(none)'}`;
          expect(new Set(response.headers.allow?.split(', ')), label).toEqual(allowed);
          expectProblem(response, 405, label);
        }
      }
    }
  });

  it('404 on unknown paths for every method, whatever the body', async () => {
    for (const path of ['/api/nothing', '/api/auth/tokens', '/api/items/x/y', '/']) {
      for (const method of METHODS) {
        for (const body of BODIES) {
          const response = await send(method, path, body);
          expectProblem(response, 404, `${method} ${path} ${body.type ?? '(none)'}`);
        }
      }
    }
  });

  it('declared size comes after the method too: 405 for an oversized body sent with the wrong method', async () => {
    const response = await send('PUT', '/api/auth/token', {
      type: 'application/json',
      body: `"${'x'.repeat(2 * 1024 * 1024)}"`,
    });
    expectProblem(response, 405, 'PUT /api/auth/token 2 MiB');
  });
});
