import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

let server: TestServer;
let database: DatabaseHandle;
let admin: TestUser;
let normal: TestUser;

beforeAll(async () => {
  server = await startTestServer([auth, users], {
    LOGIN_RATE_LIMIT_PER_ACCOUNT: '1000',
    LOGIN_RATE_LIMIT_PER_ADDRESS: '1000',
  });
  database = testDatabase(server.ctx.config);
  admin = await createTestUser(database.db, server.ctx.config, { superuser: true });
  normal = await createTestUser(database.db, server.ctx.config);
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

const USER_KEYS = [
  'created_at',
  'email',
  'email_verified',
  'full_name',
  'id',
  'is_active',
  'is_superuser',
  'updated_at',
];
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function call(method: string, path: string, user?: TestUser, body?: unknown) {
  const headers: Record<string, string> = { ...user?.auth };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return server.api(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function userOf(response: Response, status = 200) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(USER_KEYS);
  expect(body.created_at).toMatch(ISO);
  expect(body.updated_at).toMatch(ISO);
  return body;
}

async function problemOf(response: Response, status: number) {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as { detail: string; errors?: { path: string; message: string }[] };
}

async function errorPaths(response: Response) {
  return ((await problemOf(response, 422)).errors ?? []).map((e) => e.path);
}

async function expect401(response: Response) {
  await problemOf(response, 401);
  expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
}

const rowByEmail = (email: string) =>
  database.db.selectFrom('user').selectAll().where('email', '=', email).executeTakeFirst();

const login = (username: string, password: string) =>
  server.api('/api/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username, password }).toString(),
  });

const newEmail = () => `u-${randomUUID()}@example.com`;

describe('POST /api/users/ (sign-up)', () => {
  it('201: a normal active user, email lower-cased, no hash anywhere, able to log in', async () => {
    const email = `New.${randomUUID()}@Example.COM`;
    const response = await call('POST', '/api/users/', undefined, {
      email: `  ${email} `,
      password: 'correct-horse-1',
      full_name: 'New Person',
    });
    const body = await userOf(response, 201);
    expect(body).toMatchObject({
      email: email.toLowerCase(),
      full_name: 'New Person',
      is_active: true,
      is_superuser: false,
    });
    expect(JSON.stringify(body)).not.toMatch(/\$2[aby]\$/);
    const row = await rowByEmail(email.toLowerCase());
    expect(row?.hashed_password).toMatch(/^\$2b\$04\$/);
    expect((await login(email, 'correct-horse-1')).status).toBe(200);
  });

  it('answers without a trailing slash too, and full_name is optional', async () => {
    const body = await userOf(
      await call('POST', '/api/users', undefined, { email: newEmail(), password: '12345678' }),
      201,
    );
    expect(body.full_name).toBeNull();
  });

  it('409 for an email already registered, in any case', async () => {
    const email = newEmail();
    await userOf(await call('POST', '/api/users/', undefined, { email, password: 'password-1' }), 201);
    const again = await call('POST', '/api/users/', undefined, {
      email: email.toUpperCase(),
      password: 'password-2',
    });
    const problem = await problemOf(again, 409);
    expect(problem.errors?.[0]?.path).toBe('body.email');
    const count = await database.db
      .selectFrom('user')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(1);
  });

  it('422 and nothing stored: smuggled fields, bad email, password rules', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ email: newEmail(), password: 'password-1', is_superuser: true }, ['body.is_superuser']],
      [{ email: newEmail(), password: 'password-1', id: randomUUID() }, ['body.id']],
      [{ email: 'not-an-email', password: 'password-1' }, ['body.email']],
      [{ email: newEmail(), password: 'short' }, ['body.password']],
      // 37 two-byte characters: 37 characters, 74 bytes. Refused, never cut to 72.
      [{ email: newEmail(), password: 'é'.repeat(37) }, ['body.password']],
      [{ email: newEmail(), password: 'p'.repeat(73) }, ['body.password']],
      [{ email: newEmail(), password: 'password-1', full_name: 'x'.repeat(256) }, ['body.full_name']],
      [{ password: 'password-1' }, ['body.email']],
      [{}, ['body.email', 'body.password']],
    ];
    for (const [body, paths] of cases) {
      const response = await call('POST', '/api/users/', undefined, body);
      expect(await errorPaths(response), JSON.stringify(body)).toEqual(paths);
      if (typeof body.email === 'string') expect(await rowByEmail(body.email)).toBeUndefined();
    }
  });

  it('accepts a password of exactly 72 bytes and 8 characters', async () => {
    const twoByte = 'é'.repeat(36); // 72 bytes
    const email = newEmail();
    await userOf(await call('POST', '/api/users/', undefined, { email, password: twoByte }), 201);
    expect((await login(email, twoByte)).status).toBe(200);
    await userOf(
      await call('POST', '/api/users/', undefined, { email: newEmail(), password: '8chars!!' }),
      201,
    );
  });
});

describe('GET /api/users/ (superuser)', () => {
  it('401 without a token, 403 for a normal user', async () => {
    await expect401(await call('GET', '/api/users/'));
    await problemOf(await call('GET', '/api/users/', normal), 403);
  });

  // Other test files add users to the same database while this runs, so the assertions hold for any
  // concurrent inserts: order and membership over the whole table, and pages compared with a snapshot taken
  // while nothing changed.
  it('pages every user newest first with the total count', async () => {
    type Page = { data: { id: string; created_at: string }[]; count: number };
    const page = async (query: string) => {
      const response = await call('GET', `/api/users/?${query}`, admin);
      expect(response.status).toBe(200);
      return (await response.json()) as Page;
    };
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.push((await createTestUser(database.db, server.ctx.config)).user.id);

    const all = await page('limit=1000');
    expect(all.count).toBe(all.data.length); // the test database holds far fewer than 1000 users
    const ids = all.data.map((u) => u.id);
    expect(ids.indexOf(made[2] as string)).toBeLessThan(ids.indexOf(made[1] as string));
    expect(ids.indexOf(made[1] as string)).toBeLessThan(ids.indexOf(made[0] as string));
    const times = all.data.map((u) => Date.parse(u.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    for (const user of all.data) expect(Object.keys(user).sort()).toEqual(USER_KEYS);

    for (let attempt = 0; ; attempt++) {
      const before = await page('limit=1000');
      const [first, window, byDefault] = [
        await page('limit=2'),
        await page('skip=1&limit=2'),
        await page(''),
      ];
      const after = await page('limit=1000');
      // Compared without next_cursor: a cursor is sealed afresh (a new nonce) on every answer.
      const unchanged =
        JSON.stringify(before.data) === JSON.stringify(after.data) && before.count === after.count;
      if (!unchanged && attempt < 5) continue;
      expect(first.data).toEqual(before.data.slice(0, 2));
      expect(window.data).toEqual(before.data.slice(1, 3));
      expect(byDefault.data).toEqual(before.data.slice(0, 100));
      for (const p of [first, window, byDefault]) expect(p.count).toBe(before.count);
      break;
    }
  });

  it('422 for skip and limit out of bounds or not numbers', async () => {
    for (const [query, path] of [
      ['limit=1001', 'query.limit'],
      ['limit=abc', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['skip=-1', 'query.skip'],
      ['skip=1.5', 'query.skip'],
    ]) {
      expect(await errorPaths(await call('GET', `/api/users/?${query}`, admin)), query).toEqual([path]);
    }
    expect((await call('GET', '/api/users/?limit=1000&skip=0', admin)).status).toBe(200);
    // limit=0 is a valid empty page, the same for every list: only the count.
    const countOnly = await call('GET', '/api/users/?limit=0', admin);
    expect(countOnly.status).toBe(200);
    const body = (await countOnly.json()) as { data: unknown[]; count: number };
    expect(body.data).toEqual([]);
    expect(body.count).toBeGreaterThan(0);
  });
});

describe('GET /api/users/me', () => {
  it('401 without a token or with a malformed header', async () => {
    await expect401(await call('GET', '/api/users/me'));
    const response = await server.api('/api/users/me', { headers: { authorization: 'Token abc' } });
    await expect401(response);
  });

  it('the caller, normal user or superuser', async () => {
    expect(await userOf(await call('GET', '/api/users/me', normal))).toMatchObject({
      id: normal.user.id,
      is_superuser: false,
    });
    expect(await userOf(await call('GET', '/api/users/me/', admin))).toMatchObject({
      id: admin.user.id,
      is_superuser: true,
    });
  });
});

describe('PUT /api/users/me', () => {
  it('401 without a token', async () => {
    await expect401(await call('PUT', '/api/users/me', undefined, { full_name: 'x' }));
  });

  it('changes the full name alone without the password, and an empty body changes nothing', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    const body = await userOf(await call('PUT', '/api/users/me', user, { full_name: 'Renamed' }));
    expect(body.full_name).toBe('Renamed');
    expect(await userOf(await call('GET', '/api/users/me', user))).toMatchObject({ full_name: 'Renamed' });
    expect(await userOf(await call('PUT', '/api/users/me', user, {}))).toMatchObject({
      full_name: 'Renamed',
    });
    expect(await userOf(await call('PUT', '/api/users/me', user, { full_name: null }))).toMatchObject({
      full_name: null,
    });
  });

  it('a new email needs current_password: 422 without, 400 when wrong, 200 when right', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    const target = `Moved.${randomUUID()}@Example.com`;
    expect(await errorPaths(await call('PUT', '/api/users/me', user, { email: target }))).toEqual([
      'body.current_password',
    ]);
    const wrong = await problemOf(
      await call('PUT', '/api/users/me', user, { email: target, current_password: 'wrong-one' }),
      400,
    );
    expect(wrong.errors?.[0]?.path).toBe('body.current_password');
    expect(await rowByEmail(target.toLowerCase())).toBeUndefined();
    const moved = await userOf(
      await call('PUT', '/api/users/me', user, { email: target, current_password: user.password }),
    );
    expect(moved.email).toBe(target.toLowerCase());
    expect((await login(target, user.password)).status).toBe(200);
    // Re-sending the email one already has is no change and needs no password.
    expect((await call('PUT', '/api/users/me', user, { email: target.toUpperCase() })).status).toBe(200);
  });

  it('a new password needs current_password, and then only the new one logs in', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    expect(await errorPaths(await call('PUT', '/api/users/me', user, { password: 'brand-new-1' }))).toEqual([
      'body.current_password',
    ]);
    await userOf(
      await call('PUT', '/api/users/me', user, { password: 'brand-new-1', current_password: user.password }),
    );
    expect((await login(user.user.email, user.password)).status).toBe(400);
    expect((await login(user.user.email, 'brand-new-1')).status).toBe(200);
  });

  it('409 for an email someone else has', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    const response = await call('PUT', '/api/users/me', user, {
      email: normal.user.email.toUpperCase(),
      current_password: user.password,
    });
    await problemOf(response, 409);
  });

  it('422 for fields a user may not set on themselves, and for password rules', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    for (const [body, paths] of [
      [{ is_superuser: true }, ['body.is_superuser']],
      [{ is_active: false }, ['body.is_active']],
      [{ password: 'short', current_password: user.password }, ['body.password']],
      [{ password: 'ü'.repeat(40), current_password: user.password }, ['body.password']],
      [{ email: 'nope', current_password: user.password }, ['body.email']],
    ] as const) {
      expect(await errorPaths(await call('PUT', '/api/users/me', user, body)), JSON.stringify(body)).toEqual(
        paths,
      );
    }
    const row = await database.db
      .selectFrom('user')
      .selectAll()
      .where('id', '=', user.user.id)
      .executeTakeFirstOrThrow();
    expect(row.is_superuser).toBe(false);
    expect(row.is_active).toBe(true);
  });
});

describe('GET /api/users/{user_id}', () => {
  it('401 without a token', async () => {
    await expect401(await call('GET', `/api/users/${normal.user.id}`));
  });

  it('a user reads themselves; another user is a 403, existing or not', async () => {
    expect(await userOf(await call('GET', `/api/users/${normal.user.id}`, normal))).toMatchObject({
      id: normal.user.id,
    });
    await problemOf(await call('GET', `/api/users/${admin.user.id}`, normal), 403);
    await problemOf(await call('GET', `/api/users/${randomUUID()}`, normal), 403);
  });

  it('a superuser reads anyone; 404 for an unknown id; 422 for a non-UUID', async () => {
    expect(await userOf(await call('GET', `/api/users/${normal.user.id}/`, admin))).toMatchObject({
      id: normal.user.id,
      email: normal.user.email,
    });
    await problemOf(await call('GET', `/api/users/${randomUUID()}`, admin), 404);
    expect(await errorPaths(await call('GET', '/api/users/not-a-uuid', admin))).toEqual(['path.user_id']);
    expect(await errorPaths(await call('GET', `/api/users/${'a'.repeat(300)}`, admin))).toEqual([
      'path.user_id',
    ]);
  });
});

describe('PATCH /api/users/{user_id} (superuser)', () => {
  it('401 without a token, 403 for a normal user (even on themselves)', async () => {
    await expect401(await call('PATCH', `/api/users/${normal.user.id}`, undefined, { full_name: 'x' }));
    await problemOf(await call('PATCH', `/api/users/${normal.user.id}`, normal, { is_superuser: true }), 403);
    const row = await rowByEmail(normal.user.email);
    expect(row?.is_superuser).toBe(false);
  });

  it('changes any field, password included', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    const email = `Patched.${randomUUID()}@example.com`;
    const body = await userOf(
      await call('PATCH', `/api/users/${user.user.id}`, admin, {
        full_name: 'Patched',
        email,
        is_superuser: true,
        password: 'set-by-admin-1',
      }),
    );
    expect(body).toMatchObject({
      full_name: 'Patched',
      email: email.toLowerCase(),
      is_superuser: true,
      is_active: true,
    });
    expect(Date.parse(body.updated_at as string)).toBeGreaterThan(user.user.updated_at.getTime());
    // A password set by a superuser ends the user's sessions: the old token is refused at once.
    await expect401(await call('GET', '/api/users/me', user));
    const loggedIn = await login(email, 'set-by-admin-1');
    expect(loggedIn.status).toBe(200);
    const { access_token } = (await loggedIn.json()) as { access_token: string };
    // Promoted: the new session reaches a superuser route.
    const list = await server.api('/api/users/', { headers: { authorization: `Bearer ${access_token}` } });
    expect(list.status).toBe(200);
  });

  it('promotion reaches the existing token at once', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    await problemOf(await call('GET', '/api/users/', user), 403);
    await userOf(await call('PATCH', `/api/users/${user.user.id}`, admin, { is_superuser: true }));
    expect((await call('GET', '/api/users/', user)).status).toBe(200);
  });

  it('deactivation refuses the user’s existing token at once', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    expect((await call('GET', '/api/users/me', user)).status).toBe(200); // now cached
    await userOf(await call('PATCH', `/api/users/${user.user.id}`, admin, { is_active: false }));
    const refused = await call('GET', '/api/users/me', user);
    await expect401(refused);
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await login(user.user.email, user.password)).status).toBe(400);
    // Deactivation ended every session: reactivating the user does not bring the old token back.
    await userOf(await call('PATCH', `/api/users/${user.user.id}`, admin, { is_active: true }));
    await expect401(await call('GET', '/api/users/me', user));
    expect((await login(user.user.email, user.password)).status).toBe(200);
  });

  it('demotion takes superuser rights away at once', async () => {
    const other = await createTestUser(database.db, server.ctx.config, { superuser: true });
    expect((await call('GET', '/api/users/', other)).status).toBe(200);
    await userOf(await call('PATCH', `/api/users/${other.user.id}`, admin, { is_superuser: false }));
    await problemOf(await call('GET', '/api/users/', other), 403);
  });

  it('a superuser cannot deactivate or demote itself (403) but may rename itself', async () => {
    await problemOf(await call('PATCH', `/api/users/${admin.user.id}`, admin, { is_active: false }), 403);
    await problemOf(await call('PATCH', `/api/users/${admin.user.id}`, admin, { is_superuser: false }), 403);
    expect(
      await userOf(await call('PATCH', `/api/users/${admin.user.id}`, admin, { full_name: 'Boss' })),
    ).toMatchObject({
      full_name: 'Boss',
      is_superuser: true,
      is_active: true,
    });
  });

  it('404 for an unknown id, 409 for a taken email, 422 for bad bodies and ids', async () => {
    await problemOf(await call('PATCH', `/api/users/${randomUUID()}`, admin, { full_name: 'x' }), 404);
    const user = await createTestUser(database.db, server.ctx.config);
    await problemOf(
      await call('PATCH', `/api/users/${user.user.id}`, admin, { email: normal.user.email }),
      409,
    );
    for (const [body, paths] of [
      [{ hashed_password: 'x' }, ['body.hashed_password']],
      [{ is_active: 'yes' }, ['body.is_active']],
      [{ password: 'p'.repeat(73) }, ['body.password']],
      [{ email: 'bad' }, ['body.email']],
    ] as const) {
      expect(await errorPaths(await call('PATCH', `/api/users/${user.user.id}`, admin, body))).toEqual(paths);
    }
    expect(await errorPaths(await call('PATCH', '/api/users/123', admin, { full_name: 'x' }))).toEqual([
      'path.user_id',
    ]);
  });
});

describe('DELETE /api/users/{user_id} (superuser)', () => {
  it('401 without a token, 403 for a normal user', async () => {
    await expect401(await call('DELETE', `/api/users/${normal.user.id}`));
    await problemOf(await call('DELETE', `/api/users/${normal.user.id}`, normal), 403);
    expect(await rowByEmail(normal.user.email)).toBeDefined();
  });

  it('204, the user’s items go too, and their token stops working at once', async () => {
    const user = await createTestUser(database.db, server.ctx.config);
    await database.db
      .insertInto('item')
      .values([
        { title: 'one', owner_id: user.user.id },
        { title: 'two', owner_id: user.user.id },
      ])
      .execute();
    expect((await call('GET', '/api/users/me', user)).status).toBe(200); // now cached
    const response = await call('DELETE', `/api/users/${user.user.id}`, admin);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await rowByEmail(user.user.email)).toBeUndefined();
    const items = await database.db
      .selectFrom('item')
      .select('id')
      .where('owner_id', '=', user.user.id)
      .execute();
    expect(items).toEqual([]);
    await expect401(await call('GET', '/api/users/me', user));
    await problemOf(await call('DELETE', `/api/users/${user.user.id}`, admin), 404);
  });

  it('a superuser cannot delete itself (403); 422 for a non-UUID id', async () => {
    await problemOf(await call('DELETE', `/api/users/${admin.user.id}`, admin), 403);
    expect(await rowByEmail(admin.user.email)).toBeDefined();
    expect(await errorPaths(await call('DELETE', '/api/users/nope', admin))).toEqual(['path.user_id']);
  });
});

describe('methods', () => {
  it('405 with Allow for a known path with another method', async () => {
    const response = await call('POST', '/api/users/me', admin, {});
    await problemOf(response, 405);
    expect(response.headers.get('allow')).toContain('PUT');
  });
});
