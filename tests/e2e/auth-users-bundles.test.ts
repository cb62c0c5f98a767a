import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// The real topology: the built auth and users bundles as two processes, run from another working directory.
// auth signs with an Ed25519 key; users holds only the public half, as a verify-only function does.
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

let authBundle: RunningBundle;
let usersBundle: RunningBundle;
let database: DatabaseHandle;
let admin: TestUser;

beforeAll(async () => {
  const common = {
    DATABASE_URL: inject('databaseUrl'),
    SECRET_KEY: TEST_SECRET_KEY,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'info',
    DATA_DIR: tmpdir(),
  };
  [authBundle, usersBundle] = await Promise.all([
    startBundle('auth', { ...common, JWT_PRIVATE_KEY: privatePem }, { cwd: tmpdir() }),
    startBundle('users', { ...common, JWT_PUBLIC_KEY: publicPem }, { cwd: tmpdir() }),
  ]);
  database = testDatabase(testConfig());
  admin = await createTestUser(database.db, testConfig(), { superuser: true });
}, 60_000);

afterAll(async () => {
  await authBundle?.stop('SIGKILL');
  await usersBundle?.stop('SIGKILL');
  await database?.close();
});

const json = (method: string, body: unknown, token?: string) => ({
  method,
  headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
  body: JSON.stringify(body),
});
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

async function logIn(username: string, password: string): Promise<string> {
  const response = await fetch(`${authBundle.url}/api/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password, scope: '' }).toString(),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('auth and users bundles as processes', () => {
  it('sign up on users, log in on auth, use the token on users', async () => {
    const email = `e2e-${Date.now()}@Example.com`;
    const signUp = await fetch(
      `${usersBundle.url}/api/users/`,
      json('POST', { email, password: 'e2e-password-1' }),
    );
    expect(signUp.status).toBe(201);
    const created = (await signUp.json()) as { id: string; email: string };
    expect(created.email).toBe(email.toLowerCase());

    const token = await logIn(email, 'e2e-password-1');
    const remote = createRemoteJWKSet(new URL(`${authBundle.url}/api/auth/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(token, remote, {
      issuer: 'function-set',
      audience: 'function-set-api',
    });
    expect(protectedHeader.alg).toBe('EdDSA');
    expect(payload.sub).toBe(created.id);

    const me = await fetch(`${usersBundle.url}/api/users/me`, bearer(token));
    expect(me.status).toBe(200);
    expect(((await me.json()) as { id: string }).id).toBe(created.id);

    const renamed = await fetch(`${usersBundle.url}/api/users/me`, json('PUT', { full_name: 'E2E' }, token));
    expect(((await renamed.json()) as { full_name: string }).full_name).toBe('E2E');
  });

  it('each bundle serves only its own routes', async () => {
    expect((await fetch(`${usersBundle.url}/api/auth/jwks.json`)).status).toBe(404);
    expect((await fetch(`${authBundle.url}/api/users/me`)).status).toBe(404);
  });

  it('the superuser lists, patches and deletes; a deactivated user is locked out at once', async () => {
    const adminToken = await logIn(admin.user.email, admin.password);
    const target = await createTestUser(database.db, testConfig());
    const targetToken = await logIn(target.user.email, target.password);
    expect((await fetch(`${usersBundle.url}/api/users/me`, bearer(targetToken))).status).toBe(200);

    const list = await fetch(`${usersBundle.url}/api/users/?limit=1000`, bearer(adminToken));
    expect(list.status).toBe(200);
    const page = (await list.json()) as { data: { id: string }[]; count: number };
    expect(page.data.map((u) => u.id)).toEqual(expect.arrayContaining([target.user.id, admin.user.id]));
    expect(page.count).toBe(page.data.length);

    const patched = await fetch(
      `${usersBundle.url}/api/users/${target.user.id}`,
      json('PATCH', { is_active: false }, adminToken),
    );
    expect(patched.status).toBe(200);
    expect((await fetch(`${usersBundle.url}/api/users/me`, bearer(targetToken))).status).toBe(401);

    const deleted = await fetch(`${usersBundle.url}/api/users/${target.user.id}`, {
      method: 'DELETE',
      ...bearer(adminToken),
    });
    expect(deleted.status).toBe(204);
    expect((await fetch(`${usersBundle.url}/api/users/${target.user.id}`, bearer(adminToken))).status).toBe(
      404,
    );
  });

  it('logs JSON lines with request ids, and both exit 0 on SIGTERM', async () => {
    await fetch(`${authBundle.url}/api/auth/jwks.json`, { headers: { 'x-request-id': 'e2e-auth-jwks' } });
    const line = await authBundle.waitForLine((l) => l.request_id === 'e2e-auth-jwks');
    expect(line).toMatchObject({ function: 'auth', route: '/api/auth/jwks.json', status: 200 });
    expect(await authBundle.stop('SIGTERM')).toBe(0);
    expect(await usersBundle.stop('SIGTERM')).toBe(0);
  });
});
