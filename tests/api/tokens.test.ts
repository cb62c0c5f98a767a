import { createPrivateKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import { ConfigError } from '../../shared/config.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, TEST_SECRET_KEY, type TestServer, testConfig } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

const ISSUER = 'function-set';
const AUDIENCE = 'function-set-api';
const encoder = new TextEncoder();
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function pemPair(type: 'ed25519' | 'rsa' | 'ec') {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A token with the right shape (of `user`'s session unless told), signed by whatever key the test chooses. */
function claims(sub: string, sid: string = user.sessionId) {
  return new SignJWT({ sid }).setSubject(sub).setIssuedAt().setJti(randomUUID());
}

let server: TestServer;
let database: DatabaseHandle;
let user: TestUser;
let admin: TestUser;

beforeAll(async () => {
  server = await startTestServer([auth, users]);
  database = testDatabase(server.ctx.config);
  user = await createTestUser(database.db, server.ctx.config);
  admin = await createTestUser(database.db, server.ctx.config, { superuser: true });
});
afterAll(async () => {
  await server.stop();
  await database.close();
});

async function expectRefused(target: TestServer, token: string, detail = 'The token is invalid.') {
  const response = await target.api('/api/users/me', { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(((await response.json()) as { detail: string }).detail).toContain(detail);
}

describe('HS256 tokens are refused when tampered with', () => {
  const secret = encoder.encode(TEST_SECRET_KEY);
  const valid = () =>
    claims(user.user.id)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m');

  it('a well-formed token of our own is accepted (the control)', async () => {
    const token = await valid().sign(secret);
    const response = await server.api('/api/users/me', { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(200);
  });

  it('alg "none"', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      sub: user.user.id,
      iss: ISSUER,
      aud: AUDIENCE,
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
    };
    await expectRefused(server, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
    await expectRefused(server, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}`);
  });

  it('signed with another key', async () => {
    await expectRefused(
      server,
      await valid().sign(encoder.encode('another-secret-key-that-is-long-enough!!')),
    );
  });

  it('a changed payload (a normal user claiming to be the superuser)', async () => {
    const [header, payload, signature] = user.token.split('.') as [string, string, string];
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${header}.${b64({ ...decoded, sub: admin.user.id })}.${signature}`;
    await expectRefused(server, forged);
    const list = await server.api('/api/users/', { headers: { authorization: `Bearer ${forged}` } });
    expect(list.status).toBe(401);
  });

  it('the wrong issuer or audience', async () => {
    await expectRefused(
      server,
      await claims(user.user.id)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('someone-else')
        .setAudience(AUDIENCE)
        .setExpirationTime('5m')
        .sign(secret),
    );
    await expectRefused(
      server,
      await claims(user.user.id)
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(ISSUER)
        .setAudience('another-api')
        .setExpirationTime('5m')
        .sign(secret),
    );
  });

  it('an audience list that names us is accepted; a not-before still ahead, or a respelled signature, is not', async () => {
    const listed = await claims(user.user.id)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(['another-api', AUDIENCE])
      .setExpirationTime('5m')
      .sign(secret);
    const ok = await server.api('/api/users/me', { headers: { authorization: `Bearer ${listed}` } });
    expect(ok.status).toBe(200);
    await expectRefused(server, await valid().setNotBefore('1h').sign(secret));
    // The same signature bytes with padding: another spelling of a valid token.
    await expectRefused(server, `${user.token}=`);
  });

  it('expired, with its own message', async () => {
    const past = Math.floor(Date.now() / 1000) - 60;
    const token = await claims(user.user.id)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(past - 600)
      .setExpirationTime(past)
      .sign(secret);
    await expectRefused(server, token, 'The token has expired.');
  });

  it('without the claims every token has, or with a subject that is no user', async () => {
    const noSession = await new SignJWT({})
      .setSubject(user.user.id)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime('5m')
      .sign(secret);
    await expectRefused(server, noSession);
    const noJti = await new SignJWT({ sid: user.sessionId })
      .setSubject(user.user.id)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(secret);
    await expectRefused(server, noJti);
    const notUuid = await claims('admin')
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(secret);
    await expectRefused(server, notUuid);
    const nobody = await claims(randomUUID())
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(secret);
    await expectRefused(server, nobody, 'its session has ended');
    // Another user's session: a session belongs to one user only.
    const borrowed = await claims(user.user.id, admin.sessionId)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(secret);
    await expectRefused(server, borrowed, 'its session has ended');
  });
});

describe.each(['ed25519', 'rsa'] as const)('JWT_PRIVATE_KEY (%s)', (type) => {
  const keys = pemPair(type);
  let signing: TestServer;

  beforeAll(async () => {
    signing = await startTestServer([auth, users], { JWT_PRIVATE_KEY: keys.privatePem });
  });
  afterAll(() => signing.stop());

  it('signs login tokens that verify against the served JWKS with jose.createRemoteJWKSet', async () => {
    const response = await signing.api('/api/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: user.user.email, password: user.password }).toString(),
    });
    expect(response.status).toBe(200);
    const { access_token } = (await response.json()) as { access_token: string };

    const jwks = (await (await signing.api('/api/auth/jwks.json')).json()) as {
      keys: Record<string, string>[];
    };
    expect(jwks.keys).toHaveLength(1);
    const [jwk] = jwks.keys;
    expect(jwk).toMatchObject({
      use: 'sig',
      alg: type === 'rsa' ? 'RS256' : 'EdDSA',
      kid: expect.any(String),
    });
    // Only the public half is published.
    for (const privateMember of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      expect(jwk).not.toHaveProperty(privateMember);
    expect(decodeProtectedHeader(access_token)).toMatchObject({ alg: jwk?.alg, kid: jwk?.kid });

    const remote = createRemoteJWKSet(new URL(`${signing.url}/api/auth/jwks.json`));
    const { payload } = await jwtVerify(access_token, remote, { issuer: ISSUER, audience: AUDIENCE });
    expect(payload).toMatchObject({ sub: user.user.id, iss: ISSUER, aud: AUDIENCE });
    expect(payload.exp! - payload.iat!).toBe(30 * 60);
    expect(payload.jti).toEqual(expect.any(String));

    const me = await signing.api('/api/users/me', { headers: { authorization: `Bearer ${access_token}` } });
    expect(me.status).toBe(200);
  });

  it('a verify-only function (JWT_PUBLIC_KEY) accepts its tokens; the HS256 secret no longer works', async () => {
    const verifyOnly = await startTestServer([users], { JWT_PUBLIC_KEY: keys.publicPem });
    try {
      const signed = await createTestUser(database.db, signing.ctx.config);
      const me = await verifyOnly.api('/api/users/me', { headers: signed.auth });
      expect(me.status).toBe(200);
      // A token signed with the shared secret (both servers still have SECRET_KEY) is refused: the algorithm is pinned.
      await expectRefused(verifyOnly, user.token);
      await expectRefused(signing, user.token);
    } finally {
      await verifyOnly.stop();
    }
  });

  it('refuses algorithm confusion (HS256 keyed with the public key) and a look-alike key with the same kid', async () => {
    const { kid } = decodeProtectedHeader((await createTestUser(database.db, signing.ctx.config)).token);
    const confused = await claims(user.user.id)
      .setProtectedHeader({ alg: 'HS256', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(encoder.encode(keys.publicPem));
    await expectRefused(signing, confused);
    const impostor = pemPair(type);
    const forged = await claims(user.user.id)
      .setProtectedHeader({ alg: type === 'rsa' ? 'RS256' : 'EdDSA', kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(createPrivateKey(impostor.privatePem));
    await expectRefused(signing, forged);
  });
});

describe('JWT key configuration fails at start-up', () => {
  it('names the variable for an unsupported or unreadable key', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ JWT_PRIVATE_KEY: pemPair('ec').privatePem }, /JWT_PRIVATE_KEY: must be an Ed25519 or RSA key/],
      [
        {
          JWT_PRIVATE_KEY: generateKeyPairSync('rsa', { modulusLength: 1024 })
            .privateKey.export({ type: 'pkcs8', format: 'pem' })
            .toString(),
        },
        /JWT_PRIVATE_KEY: RSA keys must have at least 2048 bits/,
      ],
      [
        { JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----' },
        /JWT_PUBLIC_KEY: is not a readable PEM key/,
      ],
    ];
    for (const [env, message] of cases) {
      expect(() => testConfig(env)).toThrow(ConfigError);
      expect(() => testConfig(env)).toThrow(message);
    }
  });

  it('accepts a one-line PEM with literal \\n, as env files carry it', () => {
    const oneLine = pemPair('ed25519').privatePem.replace(/\n/g, '\\n');
    expect(testConfig({ JWT_PRIVATE_KEY: oneLine }).auth.jwtPrivateKey).toContain('\n');
  });
});
