import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import { verifyAccessToken } from '../../shared/auth/tokens.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Every hash bcrypt compares a password against, in order (bcrypt itself runs as usual).
const bcryptCompares = vi.hoisted((): string[] => []);
vi.mock('@node-rs/bcrypt', async (importOriginal) => {
  const bcrypt = await importOriginal<typeof import('@node-rs/bcrypt')>();
  return {
    ...bcrypt,
    compare(password: string, hashed: string) {
      bcryptCompares.push(hashed);
      return bcrypt.compare(password, hashed);
    },
  };
});

// Login limits high enough that only the rate-limit tests below (on servers of their own) ever reach them.
const ROOMY_LIMITS = { LOGIN_RATE_LIMIT_PER_ACCOUNT: '1000', LOGIN_RATE_LIMIT_PER_ADDRESS: '1000' };

let server: TestServer;
let database: DatabaseHandle;
let alice: TestUser;

beforeAll(async () => {
  server = await startTestServer([auth, users], ROOMY_LIMITS);
  database = testDatabase(server.ctx.config);
  alice = await createTestUser(database.db, server.ctx.config, { email: 'Alice.Login@Example.com' });
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  body: new URLSearchParams(fields).toString(),
});
const json = (body: unknown) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

async function problemOf(response: Response) {
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return (await response.json()) as {
    status: number;
    detail: string;
    error?: string;
    errors?: { path: string }[];
  };
}

async function expectToken(response: Response, userId: string) {
  expect(response.status).toBe(200);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toEqual({
    access_token: expect.any(String),
    token_type: 'bearer',
    expires_in: 30 * 60,
    refresh_token: expect.stringMatching(/^[\w-]{43}$/),
    refresh_expires_in: 14 * 24 * 3600,
  });
  const claims = await verifyAccessToken(server.ctx.config, body.access_token as string);
  expect(claims.sub).toBe(userId);
  // The token works on a protected route.
  const me = await server.api('/api/users/me', { headers: { authorization: `Bearer ${body.access_token}` } });
  expect(me.status).toBe(200);
  expect(((await me.json()) as { id: string }).id).toBe(userId);
}

describe('POST /api/auth/token', () => {
  it('logs in with a form post (email in any case)', async () => {
    const response = await server.api(
      '/api/auth/token',
      form({ username: 'ALICE.login@example.COM', password: alice.password }),
    );
    await expectToken(response, alice.user.id);
  });

  it('logs in with JSON', async () => {
    const response = await server.api(
      '/api/auth/token',
      json({ username: alice.user.email, password: alice.password }),
    );
    await expectToken(response, alice.user.id);
  });

  it("accepts Swagger UI's form: grant_type, empty scope, client fields and an empty Basic header", async () => {
    const response = await server.api(
      '/api/auth/token/',
      form(
        {
          grant_type: 'password',
          username: alice.user.email,
          password: alice.password,
          scope: '',
          client_id: '',
          client_secret: '',
          something_else: 'ignored',
        },
        { authorization: `Basic ${Buffer.from(':').toString('base64')}` },
      ),
    );
    await expectToken(response, alice.user.id);
  });

  it('answers an unknown email and a wrong password with the same 400 and body', async () => {
    const wrongPassword = await server.api(
      '/api/auth/token',
      form({ username: alice.user.email, password: 'not-the-password' }),
    );
    const unknownEmail = await server.api(
      '/api/auth/token',
      form({ username: 'nobody-here@example.com', password: 'not-the-password' }),
    );
    expect(wrongPassword.status).toBe(400);
    expect(unknownEmail.status).toBe(400);
    const [a, b] = [await problemOf(wrongPassword), await problemOf(unknownEmail)];
    expect(a).toEqual(b);
    expect(a.detail).toBe('Incorrect email or password.');
    expect(a.error).toBe('invalid_grant');
  });

  it('never accepts a password past 72 bytes, even when its first 72 bytes are right', async () => {
    const exact = 'p'.repeat(72);
    const user = await createTestUser(database.db, server.ctx.config, { password: exact });
    const ok = await server.api('/api/auth/token', form({ username: user.user.email, password: exact }));
    expect(ok.status).toBe(200);
    // bcrypt itself would say yes here: it reads 72 bytes only.
    const longer = await server.api(
      '/api/auth/token',
      form({ username: user.user.email, password: `${exact}suffix` }),
    );
    expect(longer.status).toBe(400);
  });

  it('refuses an inactive user, even with the right password', async () => {
    const inactive = await createTestUser(database.db, server.ctx.config, { active: false });
    const response = await server.api(
      '/api/auth/token',
      form({ username: inactive.user.email, password: inactive.password }),
    );
    expect(response.status).toBe(400);
    expect((await problemOf(response)).detail).toBe('This account is inactive.');
  });

  it('422 names each missing or invalid field', async () => {
    const cases: [RequestInit, string[]][] = [
      [form({}), ['body.username', 'body.password']],
      [form({ username: alice.user.email }), ['body.password']],
      [json({ username: 42, password: 'x' }), ['body.username']],
      [json('a string'), ['body']],
      [{ method: 'POST' }, ['body']],
    ];
    for (const [init, paths] of cases) {
      const response = await server.api('/api/auth/token', init);
      expect(response.status, JSON.stringify(init.body)).toBe(422);
      const body = await problemOf(response);
      expect(body.errors?.map((e) => e.path)).toEqual(paths);
      // RFC 6749's code rides along, for OAuth2 client libraries.
      expect(body.error).toBe('invalid_request');
    }
  });

  it('400 unsupported_grant_type for a grant it does not know', async () => {
    const response = await server.api(
      '/api/auth/token',
      form({ username: alice.user.email, password: alice.password, grant_type: 'client_credentials' }),
    );
    expect(response.status).toBe(400);
    expect(await problemOf(response)).toMatchObject({ status: 400, error: 'unsupported_grant_type' });
  });

  it('422 for a repeated form parameter rather than letting one win', async () => {
    const response = await server.api('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=${encodeURIComponent(alice.user.email)}&password=a&password=${encodeURIComponent(alice.password)}`,
    });
    expect(response.status).toBe(422);
    expect((await problemOf(response)).errors?.map((e) => e.path)).toEqual(['body.password']);
  });

  it('415 for other content types', async () => {
    const response = await server.api('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'username=a&password=b',
    });
    expect(response.status).toBe(415);
    await problemOf(response);
  });

  it('keeps the form parser to the token endpoint: sign-up stays JSON-only', async () => {
    const response = await server.api(
      '/api/users/',
      form({ email: 'form-signup@example.com', password: 'long-enough-1' }),
    );
    expect(response.status).toBe(415);
    const row = await database.db
      .selectFrom('user')
      .select('id')
      .where('email', '=', 'form-signup@example.com')
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });
});

describe('GET /api/auth/jwks.json', () => {
  it('is an empty key set with HS256 only', async () => {
    const response = await server.api('/api/auth/jwks.json');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ keys: [] });
  });
});

describe('login rate limits', () => {
  it('429 with Retry-After after repeated failures for one account, even with the right password', async () => {
    const limited = await startTestServer([auth], {
      LOGIN_RATE_LIMIT_PER_ACCOUNT: '3',
      LOGIN_RATE_LIMIT_PER_ADDRESS: '100',
      LOGIN_RATE_LIMIT_WINDOW_SECONDS: '120',
    });
    try {
      const victim = await createTestUser(database.db, limited.ctx.config);
      for (let i = 0; i < 3; i++) {
        const response = await limited.api(
          '/api/auth/token',
          form({ username: victim.user.email, password: 'guess-123' }),
        );
        expect(response.status).toBe(400);
      }
      const blocked = await limited.api(
        '/api/auth/token',
        form({ username: victim.user.email.toUpperCase(), password: victim.password }),
      );
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      await problemOf(blocked);
      // Another account from the same address is not affected by this account's limit.
      const other = await createTestUser(database.db, limited.ctx.config);
      const fine = await limited.api(
        '/api/auth/token',
        form({ username: other.user.email, password: other.password }),
      );
      expect(fine.status).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  it('a successful login clears the account count', async () => {
    const limited = await startTestServer([auth], {
      LOGIN_RATE_LIMIT_PER_ACCOUNT: '3',
      LOGIN_RATE_LIMIT_PER_ADDRESS: '100',
    });
    try {
      const user = await createTestUser(database.db, limited.ctx.config);
      const attempt = (password: string) =>
        limited.api('/api/auth/token', form({ username: user.user.email, password }));
      expect((await attempt('typo-1234')).status).toBe(400);
      expect((await attempt('typo-1234')).status).toBe(400);
      expect((await attempt(user.password)).status).toBe(200);
      expect((await attempt('typo-1234')).status).toBe(400);
      expect((await attempt('typo-1234')).status).toBe(400);
      // Without the reset this would be the fourth failure in the window.
      expect((await attempt(user.password)).status).toBe(200);
    } finally {
      await limited.stop();
    }
  });

  it('429 per client address across accounts (unknown emails included)', async () => {
    const limited = await startTestServer([auth], {
      LOGIN_RATE_LIMIT_PER_ACCOUNT: '100',
      LOGIN_RATE_LIMIT_PER_ADDRESS: '4',
    });
    try {
      for (let i = 0; i < 4; i++) {
        const response = await limited.api(
          '/api/auth/token',
          form({ username: `spray-${i}@example.com`, password: 'guess-123' }),
        );
        expect(response.status).toBe(400);
      }
      const blocked = await limited.api(
        '/api/auth/token',
        form({ username: alice.user.email, password: alice.password }),
      );
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('retry-after')).toBe('900');
    } finally {
      await limited.stop();
    }
  });
});

describe('login work', () => {
  // An unknown email must cost what a wrong password does: one bcrypt comparison against a hash of the configured
  // cost. Counted at bcrypt itself, so the check needs no clock (the shared machine makes timings noisy).
  it('an unknown email costs one bcrypt comparison of the configured cost, like a wrong password', async () => {
    const slow = await startTestServer([auth, users], { ...ROOMY_LIMITS, BCRYPT_COST: '8' });
    try {
      const email = 'timing-check@example.com';
      const signUp = await slow.api('/api/users/', json({ email, password: 'timing-pass-1' }));
      expect(signUp.status).toBe(201);
      const compared = async (username: string) => {
        bcryptCompares.length = 0;
        const response = await slow.api('/api/auth/token', form({ username, password: 'wrong-password' }));
        expect(response.status).toBe(400);
        return { body: await response.json(), costs: bcryptCompares.map((hashed) => hashed.split('$')[2]) };
      };
      const known = await compared(email);
      const unknown = await compared('nobody@example.com');
      expect(known.costs).toEqual(['08']);
      expect(unknown).toEqual(known);
    } finally {
      await slow.stop();
    }
  });
});
