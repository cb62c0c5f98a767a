import { decodeJwt } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as items } from '../../functions/items/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import { hashRefreshToken } from '../../shared/auth/refresh-tokens.ts';
import { purgeExpiredSessions, REFRESH_GRACE_SECONDS } from '../../shared/auth/session-store.ts';
import { cacheKeys } from '../../shared/cache/keys.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

const APP_ORIGIN = 'https://app.example.com';

let server: TestServer;
let database: DatabaseHandle;

beforeAll(async () => {
  server = await startTestServer([auth, users, items], {
    LOGIN_RATE_LIMIT_PER_ACCOUNT: '1000',
    LOGIN_RATE_LIMIT_PER_ADDRESS: '1000',
    REFRESH_TOKEN_EXPIRE_DAYS: '3',
    BACKEND_CORS_ORIGINS: APP_ORIGIN,
  });
  database = testDatabase(server.ctx.config);
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

interface Tokens {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in: number;
}

interface Problem {
  status: number;
  detail: string;
  error?: string;
  errors?: { path: string }[];
}

const form = (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields).toString(),
});

async function tokensOf(response: Response): Promise<Tokens> {
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('cache-control')).toBe('no-store');
  return (await response.json()) as Tokens;
}

async function problemOf(response: Response, status: number): Promise<Problem> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as Problem;
}

const logIn = (user: TestUser, fields: Record<string, string> = {}, headers: Record<string, string> = {}) =>
  server.api(
    '/api/auth/token',
    form(
      { username: user.user.email, password: user.password, ...fields },
      { 'user-agent': 'vitest', ...headers },
    ),
  );

const refresh = (refreshToken: string) =>
  server.api('/api/auth/token', form({ grant_type: 'refresh_token', refresh_token: refreshToken }));

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Whether an access token still works, on users and on items (two functions, one check). */
async function accessWorks(token: string): Promise<boolean> {
  const [me, list] = await Promise.all([
    server.api('/api/users/me', { headers: bearer(token) }),
    server.api('/api/items/', { headers: bearer(token) }),
  ]);
  expect(me.status).toBe(list.status);
  if (me.status === 401) {
    for (const response of [me, list]) {
      expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
      expect(((await response.json()) as Problem).detail).toContain('its session has ended');
    }
    return false;
  }
  expect(me.status).toBe(200);
  return true;
}

/** Moves a spent refresh token's spending into the past, beyond the grace window. */
async function ageSpentToken(refreshToken: string) {
  await database.db
    .updateTable('refresh_token')
    .set({ spent_at: sql`now() - make_interval(secs => ${REFRESH_GRACE_SECONDS + 1})` })
    .where('token_hash', '=', hashRefreshToken(refreshToken))
    .execute();
}

const sessionRow = (id: string) =>
  database.db.selectFrom('session').selectAll().where('id', '=', id).executeTakeFirst();

const newUser = () => createTestUser(database.db, server.ctx.config);

describe('the password grant', () => {
  it('answers a refresh token (opaque, 256 bits, stored only as a hash) and an access token naming its session', async () => {
    const user = await newUser();
    const tokens = await tokensOf(await logIn(user));
    expect(tokens).toEqual({
      access_token: expect.any(String),
      token_type: 'bearer',
      expires_in: 30 * 60,
      refresh_token: expect.stringMatching(/^[\w-]{43}$/),
      refresh_expires_in: 3 * 24 * 3600,
    });
    const { sid, sub } = decodeJwt(tokens.access_token);
    expect(sub).toBe(user.user.id);
    const row = await sessionRow(sid as string);
    expect(row).toMatchObject({ user_id: user.user.id, user_agent: 'vitest', ended_at: null });
    expect(row?.client_address).toEqual(expect.any(String));
    const stored = await database.db
      .selectFrom('refresh_token')
      .selectAll()
      .where('session_id', '=', sid as string)
      .execute();
    expect(stored).toHaveLength(1);
    expect(stored[0]?.token_hash.equals(hashRefreshToken(tokens.refresh_token as string))).toBe(true);
    expect(JSON.stringify(stored)).not.toContain(tokens.refresh_token);
  });
});

describe('the refresh_token grant', () => {
  it('rotates: each refresh spends the token and answers a new pair, in the same session', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const second = await tokensOf(await refresh(first.refresh_token as string));
    const third = await tokensOf(await refresh(second.refresh_token as string));
    expect(new Set([first.refresh_token, second.refresh_token, third.refresh_token]).size).toBe(3);
    const sessions = [first, second, third].map((t) => decodeJwt(t.access_token).sid);
    expect(new Set(sessions).size).toBe(1);
    // Refreshes never extend the session.
    expect(third.refresh_expires_in).toBeLessThanOrEqual(first.refresh_expires_in);
    expect(await accessWorks(third.access_token)).toBe(true);
    // JSON works as the form does.
    const json = await server.api('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'refresh_token', refresh_token: third.refresh_token }),
    });
    await tokensOf(json);
  });

  it('a spent token presented again ends the whole session: newest refresh token and access tokens refused', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const second = await tokensOf(await refresh(first.refresh_token as string));
    expect(await accessWorks(first.access_token)).toBe(true);
    expect(await accessWorks(second.access_token)).toBe(true);
    await ageSpentToken(first.refresh_token as string);

    const replay = await problemOf(await refresh(first.refresh_token as string), 400);
    expect(replay).toMatchObject({ error: 'invalid_grant', detail: expect.stringContaining('already used') });
    expect(await accessWorks(first.access_token)).toBe(false);
    expect(await accessWorks(second.access_token)).toBe(false);
    expect((await problemOf(await refresh(second.refresh_token as string), 400)).error).toBe('invalid_grant');
    const row = await sessionRow(decodeJwt(first.access_token).sid as string);
    expect(row).toMatchObject({ end_reason: 'replay', ended_at: expect.any(Date) });
  });

  it('a token spent two refreshes ago is a replay too', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const second = await tokensOf(await refresh(first.refresh_token as string));
    const third = await tokensOf(await refresh(second.refresh_token as string));
    // Within the grace window, but its successor has been spent since: no second answer.
    expect((await problemOf(await refresh(first.refresh_token as string), 400)).error).toBe('invalid_grant');
    expect(await accessWorks(third.access_token)).toBe(false);
  });

  it('within the grace window, the same spent token gets the same successor (and the session stays)', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const a = await tokensOf(await refresh(first.refresh_token as string));
    const b = await tokensOf(await refresh(first.refresh_token as string));
    expect(b.refresh_token).toBe(a.refresh_token);
    expect(await accessWorks(a.access_token)).toBe(true);
    expect(await accessWorks(b.access_token)).toBe(true);
    await tokensOf(await refresh(b.refresh_token as string));
  });

  it('two refreshes racing with one token both succeed with the same new refresh token', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => refresh(first.refresh_token as string).then(tokensOf)),
    );
    expect(new Set(answers.map((t) => t.refresh_token)).size).toBe(1);
    for (const answer of answers) expect(await accessWorks(answer.access_token)).toBe(true);
    const rows = await database.db
      .selectFrom('refresh_token')
      .select('spent_at')
      .where('session_id', '=', decodeJwt(first.access_token).sid as string)
      .execute();
    expect(rows.map((r) => r.spent_at === null).sort()).toEqual([false, true]);
    await tokensOf(await refresh(answers[0]?.refresh_token as string));
  });

  it('a session ends REFRESH_TOKEN_EXPIRE_DAYS after its login, whatever the refreshes', async () => {
    const user = await newUser();
    const first = await tokensOf(await logIn(user));
    const sid = decodeJwt(first.access_token).sid as string;
    const row = await sessionRow(sid);
    const lifetime = (row?.expires_at.getTime() ?? 0) - (row?.created_at.getTime() ?? 0);
    expect(lifetime).toBe(3 * 24 * 3600 * 1000);
    const second = await tokensOf(await refresh(first.refresh_token as string));
    expect((await sessionRow(sid))?.expires_at).toEqual(row?.expires_at);

    // The same session, a few seconds from its end: the access token never outlives it.
    await database.db
      .updateTable('session')
      .set({ expires_at: sql`now() + interval '5 seconds'` } as never)
      .where('id', '=', sid)
      .execute();
    const late = await tokensOf(await refresh(second.refresh_token as string));
    expect(late.refresh_expires_in).toBeLessThanOrEqual(5);
    expect(late.expires_in).toBeLessThanOrEqual(5);

    // Past its end, the refresh token is refused and nothing changes.
    await database.db
      .updateTable('session')
      .set({ expires_at: sql`now() - interval '1 second'` } as never)
      .where('id', '=', sid)
      .execute();
    await server.ctx.cache.delete(cacheKeys.session(sid));
    expect((await problemOf(await refresh(late.refresh_token as string), 400)).error).toBe('invalid_grant');
    expect(await accessWorks(late.access_token)).toBe(false);
  });

  it('refuses an unknown token (invalid_grant) and a missing one (invalid_request), changing nothing', async () => {
    expect((await problemOf(await refresh('made-up-token'), 400)).error).toBe('invalid_grant');
    const missing = await problemOf(
      await server.api('/api/auth/token', form({ grant_type: 'refresh_token' })),
      400,
    );
    expect(missing.error).toBe('invalid_request');
  });

  it('refuses the refresh token of a deactivated user, and deletion removes the sessions', async () => {
    const user = await newUser();
    const admin = await createTestUser(database.db, server.ctx.config, { superuser: true });
    const tokens = await tokensOf(await logIn(user));
    const patch = await server.api(`/api/users/${user.user.id}`, {
      method: 'PATCH',
      headers: { ...admin.auth, 'content-type': 'application/json' },
      body: JSON.stringify({ is_active: false }),
    });
    expect(patch.status).toBe(200);
    expect((await problemOf(await refresh(tokens.refresh_token as string), 400)).error).toBe('invalid_grant');
    expect(await accessWorks(user.token)).toBe(false);
    const ended = await database.db
      .selectFrom('session')
      .select(['end_reason'])
      .where('user_id', '=', user.user.id)
      .execute();
    expect(ended.map((s) => s.end_reason)).toEqual(['deactivated', 'deactivated']);

    const other = await newUser();
    const otherTokens = await tokensOf(await logIn(other));
    expect(await accessWorks(otherTokens.access_token)).toBe(true);
    const deleted = await server.api(`/api/users/${other.user.id}`, {
      method: 'DELETE',
      headers: admin.auth,
    });
    expect(deleted.status).toBe(204);
    expect((await server.api('/api/users/me', { headers: bearer(otherTokens.access_token) })).status).toBe(
      401,
    );
    expect((await problemOf(await refresh(otherTokens.refresh_token as string), 400)).error).toBe(
      'invalid_grant',
    );
    const left = await database.db
      .selectFrom('session')
      .select('id')
      .where('user_id', '=', other.user.id)
      .execute();
    expect(left).toEqual([]);
  });
});

describe('POST /api/auth/logout', () => {
  it('ends the caller’s session at once: its access and refresh tokens stop working, and the cookie is cleared', async () => {
    const user = await newUser();
    const tokens = await tokensOf(await logIn(user));
    // Cached now: logout must drop the entry, not wait for it to expire.
    expect(await accessWorks(tokens.access_token)).toBe(true);
    const response = await server.api('/api/auth/logout', {
      method: 'POST',
      headers: bearer(tokens.access_token),
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('set-cookie')).toMatch(/^refresh_token=; Max-Age=0; Path=\/api\/auth;/);
    expect(await accessWorks(tokens.access_token)).toBe(false);
    expect((await problemOf(await refresh(tokens.refresh_token as string), 400)).error).toBe('invalid_grant');
    // The user's other session is untouched.
    expect(await accessWorks(user.token)).toBe(true);
    // Without a token: 401.
    await problemOf(await server.api('/api/auth/logout', { method: 'POST' }), 401);
  });
});

describe('POST /api/auth/revoke (RFC 7009)', () => {
  const revoke = (fields: Record<string, string>) => server.api('/api/auth/revoke', form(fields));

  it('200 for a token it does not know, changing nothing', async () => {
    const user = await newUser();
    // The signature's first character changed: its last one carries bits a decoder ignores, so changing that
    // one may leave the very same token.
    const [header, payload, signature = ''] = user.token.split('.');
    const forged = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    for (const token of ['never-issued', forged]) {
      const response = await revoke({ token });
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('');
    }
    expect(await accessWorks(user.token)).toBe(true);
  });

  it('a refresh token (current or spent) ends its session', async () => {
    const user = await newUser();
    const tokens = await tokensOf(await logIn(user));
    expect(
      (await revoke({ token: tokens.refresh_token as string, token_type_hint: 'refresh_token' })).status,
    ).toBe(200);
    expect(await accessWorks(tokens.access_token)).toBe(false);
    expect((await problemOf(await refresh(tokens.refresh_token as string), 400)).error).toBe('invalid_grant');

    const again = await tokensOf(await logIn(user));
    const next = await tokensOf(await refresh(again.refresh_token as string));
    expect((await revoke({ token: again.refresh_token as string })).status).toBe(200);
    expect(await accessWorks(next.access_token)).toBe(false);
  });

  it('an access token ends its session too, whatever the hint', async () => {
    const user = await newUser();
    const tokens = await tokensOf(await logIn(user));
    expect((await revoke({ token: tokens.access_token, token_type_hint: 'refresh_token' })).status).toBe(200);
    expect(await accessWorks(tokens.access_token)).toBe(false);
    expect((await problemOf(await refresh(tokens.refresh_token as string), 400)).error).toBe('invalid_grant');
  });

  it('without a token: 422 naming it, with invalid_request', async () => {
    const body = await problemOf(await revoke({}), 422);
    expect(body).toMatchObject({ error: 'invalid_request', errors: [{ path: 'body.token' }] });
  });
});

describe('GET /api/users/me/sessions and DELETE /api/users/me/sessions/{id}', () => {
  interface Listed {
    data: Record<string, unknown>[];
    count: number;
  }

  it('lists the caller’s open sessions, newest first, the current one marked', async () => {
    const user = await newUser();
    const laptop = await tokensOf(await logIn(user, {}, { 'user-agent': 'laptop' }));
    const phone = await tokensOf(await logIn(user, {}, { 'user-agent': 'phone' }));
    const ended = await tokensOf(await logIn(user, {}, { 'user-agent': 'ended' }));
    await server.api('/api/auth/logout', { method: 'POST', headers: bearer(ended.access_token) });

    const response = await server.api('/api/users/me/sessions', { headers: bearer(laptop.access_token) });
    expect(response.status).toBe(200);
    const listed = (await response.json()) as Listed;
    expect(listed.count).toBe(3);
    expect(listed.data.map((s) => s.user_agent)).toEqual(['phone', 'laptop', 'test']);
    expect(listed.data.map((s) => s.current)).toEqual([false, true, false]);
    expect(listed.data[1]).toEqual({
      id: decodeJwt(laptop.access_token).sid,
      created_at: expect.any(String),
      last_used_at: expect.any(String),
      expires_at: expect.any(String),
      user_agent: 'laptop',
      current: true,
    });
    expect(JSON.stringify(listed)).not.toContain(laptop.refresh_token);
    expect(decodeJwt(phone.access_token).sid).toBe(listed.data[0]?.id);

    const page = (await (
      await server.api('/api/users/me/sessions?limit=1&skip=1', { headers: bearer(laptop.access_token) })
    ).json()) as Listed;
    expect(page).toMatchObject({ count: 3, data: [{ user_agent: 'laptop' }] });

    // The shared cursor pagination: walking by next_cursor gives every open session once, in order.
    const walked: unknown[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const next = (await (
        await server.api(`/api/users/me/sessions${query}`, { headers: bearer(laptop.access_token) })
      ).json()) as Listed & { next_cursor: string | null };
      walked.push(...next.data.map((s) => s.user_agent));
      cursor = next.next_cursor;
    }
    expect(walked).toEqual(['phone', 'laptop', 'test']);
    // Another user's cursor does not open here.
    const mine = (await (
      await server.api('/api/users/me/sessions?limit=1', { headers: bearer(laptop.access_token) })
    ).json()) as { next_cursor: string };
    const foreign = await server.api(`/api/users/me/sessions?cursor=${mine.next_cursor}`, {
      headers: (await newUser()).auth,
    });
    expect((await problemOf(foreign, 422)).errors?.map((e) => e.path)).toEqual(['query.cursor']);
  });

  it('ends one of the caller’s sessions; another user’s is a 404 and stays open', async () => {
    const user = await newUser();
    const other = await newUser();
    const phone = await tokensOf(await logIn(user));
    const phoneSid = decodeJwt(phone.access_token).sid as string;

    const foreign = await server.api(`/api/users/me/sessions/${phoneSid}`, {
      method: 'DELETE',
      headers: other.auth,
    });
    await problemOf(foreign, 404);
    expect(await accessWorks(phone.access_token)).toBe(true);

    const response = await server.api(`/api/users/me/sessions/${phoneSid}`, {
      method: 'DELETE',
      headers: user.auth,
    });
    expect(response.status).toBe(204);
    expect(await accessWorks(phone.access_token)).toBe(false);
    expect((await problemOf(await refresh(phone.refresh_token as string), 400)).error).toBe('invalid_grant');
    expect(await accessWorks(user.token)).toBe(true);
    // Already ended: 404; not a UUID: 422.
    await problemOf(
      await server.api(`/api/users/me/sessions/${phoneSid}`, { method: 'DELETE', headers: user.auth }),
      404,
    );
    const bad = await server.api('/api/users/me/sessions/nope', { method: 'DELETE', headers: user.auth });
    expect((await problemOf(bad, 422)).errors?.map((e) => e.path)).toEqual(['path.session_id']);
  });

  it('a password change ends every other session of the user; this one stays', async () => {
    const user = await newUser();
    const here = await tokensOf(await logIn(user));
    const elsewhere = await tokensOf(await logIn(user));
    expect(await accessWorks(elsewhere.access_token)).toBe(true);
    const response = await server.api('/api/users/me', {
      method: 'PUT',
      headers: { ...bearer(here.access_token), 'content-type': 'application/json' },
      body: JSON.stringify({ password: 'a-new-password-1', current_password: user.password }),
    });
    expect(response.status).toBe(200);
    expect(await accessWorks(here.access_token)).toBe(true);
    await tokensOf(await refresh(here.refresh_token as string));
    expect(await accessWorks(elsewhere.access_token)).toBe(false);
    expect(await accessWorks(user.token)).toBe(false);
    expect((await problemOf(await refresh(elsewhere.refresh_token as string), 400)).error).toBe(
      'invalid_grant',
    );

    // A change of name alone ends nothing.
    const another = await tokensOf(
      await server.api('/api/auth/token', form({ username: user.user.email, password: 'a-new-password-1' })),
    );
    await server.api('/api/users/me', {
      method: 'PUT',
      headers: { ...bearer(here.access_token), 'content-type': 'application/json' },
      body: JSON.stringify({ full_name: 'Renamed' }),
    });
    expect(await accessWorks(another.access_token)).toBe(true);
  });
});

describe('cookie mode (browsers)', () => {
  const cookieOf = (response: Response) => response.headers.get('set-cookie') ?? '';
  const cookieValue = (setCookie: string) => /^refresh_token=([^;]*)/.exec(setCookie)?.[1] ?? '';
  const refreshByCookie = (value: string, origin: string | undefined) =>
    server.api(
      '/api/auth/token',
      form({ grant_type: 'refresh_token' }, { cookie: `refresh_token=${value}`, ...(origin && { origin }) }),
    );

  it('keeps the refresh token in an HttpOnly, Secure, SameSite=Strict cookie limited to /api/auth', async () => {
    const user = await newUser();
    const response = await logIn(user, { token_delivery: 'cookie' }, { origin: APP_ORIGIN });
    const setCookie = cookieOf(response);
    const tokens = await tokensOf(response);
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.refresh_expires_in).toBe(3 * 24 * 3600);
    expect(setCookie).toMatch(/^refresh_token=[\w-]{43}; /);
    const attributes = setCookie.split('; ').slice(1).sort();
    expect(attributes).toEqual(
      ['HttpOnly', `Max-Age=${3 * 24 * 3600}`, 'Path=/api/auth', 'SameSite=Strict', 'Secure'].sort(),
    );

    const refreshed = await refreshByCookie(cookieValue(setCookie), APP_ORIGIN);
    const nextCookie = cookieOf(refreshed);
    const next = await tokensOf(refreshed);
    expect(next.refresh_token).toBeUndefined();
    expect(cookieValue(nextCookie)).toMatch(/^[\w-]{43}$/);
    expect(cookieValue(nextCookie)).not.toBe(cookieValue(setCookie));
    expect(await accessWorks(next.access_token)).toBe(true);

    const logout = await server.api('/api/auth/logout', {
      method: 'POST',
      headers: bearer(next.access_token),
    });
    expect(cookieValue(cookieOf(logout))).toBe('');
    expect(cookieOf(logout)).toContain('Max-Age=0');
  });

  it('refuses a cookie refresh from another origin, or without one, and changes nothing', async () => {
    const user = await newUser();
    const login = await logIn(user, { token_delivery: 'cookie' });
    const value = cookieValue(cookieOf(login));
    const { access_token } = await tokensOf(login);
    for (const origin of ['https://evil.example.com', 'http://app.example.com', undefined]) {
      const refused = await problemOf(await refreshByCookie(value, origin), 403);
      expect(refused.error).toBe('invalid_request');
    }
    expect(await accessWorks(access_token)).toBe(true);
    // The cookie was not spent by the refused requests.
    await tokensOf(await refreshByCookie(value, APP_ORIGIN));
  });

  it('a replayed cookie ends the session and clears the cookie', async () => {
    const user = await newUser();
    const value = cookieValue(cookieOf(await logIn(user, { token_delivery: 'cookie' })));
    const next = await tokensOf(await refreshByCookie(value, APP_ORIGIN));
    await ageSpentToken(value);
    const replay = await refreshByCookie(value, APP_ORIGIN);
    expect(cookieOf(replay)).toContain('Max-Age=0');
    expect((await problemOf(replay, 400)).error).toBe('invalid_grant');
    expect(await accessWorks(next.access_token)).toBe(false);
  });
});

describe('expired sessions', () => {
  it('are purged with their refresh tokens; open ones stay', async () => {
    const user = await newUser();
    const tokens = await tokensOf(await logIn(user));
    const sid = decodeJwt(tokens.access_token).sid as string;
    await database.db
      .updateTable('session')
      .set({ expires_at: sql`now() - interval '1 second'` } as never)
      .where('id', '=', sid)
      .execute();
    expect(await purgeExpiredSessions(database.db)).toBeGreaterThanOrEqual(1);
    expect(await sessionRow(sid)).toBeUndefined();
    const tokensLeft = await database.db
      .selectFrom('refresh_token')
      .select('session_id')
      .where('session_id', '=', sid)
      .execute();
    expect(tokensLeft).toEqual([]);
    expect(await sessionRow(user.sessionId)).toBeDefined();
  });
});
