import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as items } from '../../functions/items/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Every string a request carries to the database goes through the shared text() schema: PostgreSQL cannot keep
// NUL, UTF-8 cannot keep an unpaired surrogate, and control characters have no place in these fields. Each is
// a 422 naming the field, with nothing stored; never a 500.

let server: TestServer;
let database: DatabaseHandle;
let normal: TestUser;
let admin: TestUser;
let itemId: string;

beforeAll(async () => {
  server = await startTestServer([auth, users, items], {
    LOGIN_RATE_LIMIT_PER_ACCOUNT: '1000',
    LOGIN_RATE_LIMIT_PER_ADDRESS: '1000',
  });
  database = testDatabase(server.ctx.config);
  [normal, admin] = await Promise.all([
    createTestUser(database.db, server.ctx.config),
    createTestUser(database.db, server.ctx.config, { superuser: true }),
  ]);
  const response = await call('POST', '/api/items/', normal, { title: 'an item' });
  itemId = ((await response.json()) as { id: string }).id;
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

function call(method: string, path: string, as: TestUser | undefined, body: unknown) {
  return server.api(path, {
    method,
    headers: { 'content-type': 'application/json', ...as?.auth },
    body: JSON.stringify(body),
  });
}

async function invalidFields(response: Response): Promise<string[]> {
  expect(response.status).toBe(422);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as { errors?: { path: string }[] };
  return (body.errors ?? []).map((error) => error.path);
}

/** Characters no text field takes: NUL, other C0 and C1 controls, DEL, and both halves of a broken pair. */
const REFUSED = ['\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\ud800', '\udc00'];
const LINE_BREAKS = ['\t', '\n', '\r'];

const userRow = (id: string) =>
  database.db.selectFrom('user').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const itemRow = (id: string) =>
  database.db.selectFrom('item').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

/** A valid body for each operation, and the string fields in it to spoil one at a time. */
const emailOf = () => `t-${randomUUID()}@example.com`;
const operations = () => [
  {
    name: 'sign-up',
    method: 'POST',
    path: '/api/users/',
    as: undefined,
    body: { email: emailOf(), password: 'password-1', full_name: 'A Name' },
  },
  {
    name: 'update me',
    method: 'PUT',
    path: '/api/users/me',
    as: normal,
    body: {
      full_name: 'A Name',
      email: emailOf(),
      password: 'password-2',
      current_password: normal.password,
    },
  },
  {
    name: 'update a user',
    method: 'PATCH',
    path: `/api/users/${normal.user.id}`,
    as: admin,
    body: { full_name: 'A Name', email: emailOf(), password: 'password-3' },
  },
  {
    name: 'create an item',
    method: 'POST',
    path: '/api/items/',
    as: normal,
    body: { title: 'a title', description: 'a description' },
  },
  {
    name: 'update an item',
    method: 'PUT',
    path: `/api/items/${itemId}`,
    as: normal,
    body: { title: 'a title', description: 'a description' },
  },
];

describe('text fields', () => {
  it('refuse control characters and unpaired surrogates in every field: 422 naming it, nothing stored', async () => {
    const userBefore = await userRow(normal.user.id);
    const itemBefore = await itemRow(itemId);
    for (const operation of operations()) {
      for (const field of Object.keys(operation.body)) {
        for (const character of REFUSED) {
          const body = { ...operation.body, [field]: `ab${character}cdefgh` };
          const response = await call(operation.method, operation.path, operation.as, body);
          const label = `${operation.name}: ${field} with U+${character.charCodeAt(0).toString(16)}`;
          expect(await invalidFields(response), label).toEqual([`body.${field}`]);
        }
      }
    }
    expect(await userRow(normal.user.id)).toEqual(userBefore);
    expect(await itemRow(itemId)).toEqual(itemBefore);
    const signedUp = await database.db
      .selectFrom('user')
      .select('id')
      .where('full_name', 'like', 'ab%')
      .execute();
    expect(signedUp).toEqual([]);
  });

  it('take line breaks and tabs in an item description only', async () => {
    for (const character of LINE_BREAKS) {
      const title = await call('POST', '/api/items/', normal, { title: `a${character}b` });
      expect(await invalidFields(title)).toEqual(['body.title']);
      const name = await call('PUT', '/api/users/me', normal, { full_name: `a${character}b` });
      expect(await invalidFields(name)).toEqual(['body.full_name']);
    }
    const description = 'line one\r\nline two\ttabbed';
    const response = await call('POST', '/api/items/', normal, { title: 'multi-line', description });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { description: string }).description).toBe(description);
  });

  it('count characters as PostgreSQL does: a surrogate pair is one', async () => {
    const emoji = '😀'.repeat(255);
    const response = await call('PUT', '/api/users/me', normal, { full_name: emoji });
    expect(response.status).toBe(200);
    expect((await userRow(normal.user.id)).full_name).toBe(emoji);
    const tooLong = await call('PUT', '/api/users/me', normal, { full_name: `${emoji}😀` });
    expect(await invalidFields(tooLong)).toEqual(['body.full_name']);
  });

  it('log-in refuses them too, from a form or JSON, with a 422 naming the field', async () => {
    for (const field of ['username', 'password', 'scope']) {
      for (const character of REFUSED.filter((c) => c < '\ud800')) {
        const fields = { username: normal.user.email, password: normal.password, [field]: `a${character}b` };
        const form = await server.api('/api/auth/token', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(fields).toString(),
        });
        expect(await invalidFields(form), `form ${field}`).toEqual([`body.${field}`]);
        const json = await call('POST', '/api/auth/token', undefined, fields);
        expect(await invalidFields(json), `JSON ${field}`).toEqual([`body.${field}`]);
      }
    }
    const lone = await call('POST', '/api/auth/token', undefined, {
      username: `${normal.user.email}\ud800`,
      password: normal.password,
    });
    expect(await invalidFields(lone)).toEqual(['body.username']);
  });
});
