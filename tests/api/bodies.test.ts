import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Every request body is a JSON object. Any other JSON value (an array, a string, a number, a boolean, null) is
// a 422 naming `body`, on every route that takes one, before anything is looked up or changed.

let server: TestServer;
let database: DatabaseHandle;
let admin: TestUser;

beforeAll(async () => {
  server = await startTestServer(allFunctions);
  database = testDatabase(server.ctx.config);
  admin = await createTestUser(database.db, server.ctx.config, { superuser: true });
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

const NOT_OBJECTS = ['[]', '[{}]', '"text"', '42', 'true', 'null'];

/** Every route that takes a body, with its path parameters filled in. */
const routesWithBodies = () =>
  allFunctions.flatMap((fn) =>
    fn.routes
      .filter((route) => route.body)
      .map((route) => ({ method: route.method as string, path: route.url.replace(/:\w+/g, randomUUID()) })),
  );

describe('request bodies', () => {
  it('are JSON objects: any other JSON value is a 422 naming the body, on every route', async () => {
    const routes = routesWithBodies();
    expect(routes.map((r) => `${r.method} ${r.path.split('/')[2]}`)).toEqual(
      expect.arrayContaining([
        'POST auth',
        'POST users',
        'PUT users',
        'PATCH users',
        'POST items',
        'PUT items',
      ]),
    );
    for (const { method, path } of routes) {
      for (const body of NOT_OBJECTS) {
        const response = await server.api(path, {
          method,
          headers: { 'content-type': 'application/json', ...admin.auth },
          body,
        });
        expect(response.status, `${method} ${path} ${body}`).toBe(422);
        expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        const problem = (await response.json()) as { errors: { path: string; message: string }[] };
        expect(problem.errors, `${method} ${path} ${body}`).toEqual([
          { path: 'body', message: expect.stringMatching(/^must be a JSON object/) },
        ]);
      }
    }
  });

  it('an array is no empty update: PUT /api/users/me with [] changes nothing and says why', async () => {
    const before = await database.db
      .selectFrom('user')
      .selectAll()
      .where('id', '=', admin.user.id)
      .executeTakeFirstOrThrow();
    const response = await server.api('/api/users/me', {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...admin.auth },
      body: '[]',
    });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { detail: string }).detail).toBe(
      'Invalid request: body: must be a JSON object, not an array',
    );
    const after = await database.db
      .selectFrom('user')
      .selectAll()
      .where('id', '=', admin.user.id)
      .executeTakeFirstOrThrow();
    expect(after).toEqual(before);
  });
});
