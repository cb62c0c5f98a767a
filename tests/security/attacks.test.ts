import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { report } from '../support/load.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// Attacks against the built auth, users and items bundles as processes (tests/api covers the same rules in
// process; here they are checked where they are deployed, and for what those tests leave out).

let scratch: ScratchDatabase;
let database: DatabaseHandle;
let authBundle: RunningBundle;
let usersBundle: RunningBundle;
let itemsBundle: RunningBundle;
let alice: TestUser;
let mallory: TestUser;
let admin: TestUser;
let attempts = 0;

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const config = testConfig({ DATABASE_URL: scratch.url });
  database = testDatabase(config);
  [alice, mallory, admin] = await Promise.all([
    createTestUser(database.db, config),
    createTestUser(database.db, config),
    createTestUser(database.db, config, { superuser: true }),
  ]);
  const env = {
    DATABASE_URL: scratch.url,
    SECRET_KEY: TEST_SECRET_KEY,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'warn',
    DATA_DIR: tmpdir(),
    LOGIN_RATE_LIMIT_PER_ACCOUNT: '3',
  };
  [authBundle, usersBundle, itemsBundle] = await Promise.all([
    startBundle('auth', env, { cwd: tmpdir() }),
    startBundle('users', env, { cwd: tmpdir() }),
    startBundle('items', env, { cwd: tmpdir() }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([authBundle, usersBundle, itemsBundle].map((b) => b?.stop('SIGKILL')));
  await database?.close();
  await scratch?.drop();
  report('attacks (auth, users, items bundles)', { attack_requests: attempts, let_in: 0 });
});

async function call(
  bundle: RunningBundle,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string } = {},
) {
  attempts += 1;
  const response = await fetch(`${bundle.url}${path}`, {
    method,
    headers: {
      ...(options.token && { authorization: `Bearer ${options.token}` }),
      ...((options.body !== undefined || options.raw !== undefined) && {
        'content-type': 'application/json',
      }),
    },
    ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
    ...(options.raw !== undefined && { body: options.raw }),
  });
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  if (response.status >= 400) {
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(typeof body?.detail).toBe('string');
  }
  return { status: response.status, body, headers: response.headers };
}

const secret = new TextEncoder().encode(TEST_SECRET_KEY);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const good = (sub: string) =>
  new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuer('function-set')
    .setAudience('function-set-api')
    .setIssuedAt()
    .setJti(randomUUID());

const itemCount = async () =>
  Number(
    (
      await database.db
        .selectFrom('item')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('forged tokens on the items bundle', () => {
  it('every forgery is a 401 with invalid_token, and nothing is created', async () => {
    const now = Math.floor(Date.now() / 1000);
    const [, payload] = alice.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const forgeries: Record<string, string> = {
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, sub: admin.user.id })}.`,
      'wrong key': await good(alice.user.id).sign(
        new TextEncoder().encode('another-key-of-sufficient-length-0123456789'),
      ),
      'claims altered after signing': `${alice.token.split('.')[0]}.${b64({ ...claims, sub: admin.user.id })}.${alice.token.split('.')[2]}`,
      'wrong issuer': await good(alice.user.id).setIssuer('evil').setExpirationTime('5m').sign(secret),
      'wrong audience': await good(alice.user.id)
        .setAudience('other-api')
        .setExpirationTime('5m')
        .sign(secret),
      expired: await good(alice.user.id)
        .setIssuedAt(now - 7200)
        .setExpirationTime(now - 3600)
        .sign(secret),
      'not yet valid': await good(alice.user.id)
        .setNotBefore(now + 3600)
        .setExpirationTime('2h')
        .sign(secret),
      'no expiry': await good(alice.user.id).sign(secret),
      'subject not a uuid': await good("' or 1=1 --").setExpirationTime('5m').sign(secret),
      'subject of nobody': await good(randomUUID()).setExpirationTime('5m').sign(secret),
    };
    const before = await itemCount();
    for (const [name, token] of Object.entries(forgeries)) {
      for (const [method, body] of [
        ['GET', undefined],
        ['POST', { title: name }],
      ] as const) {
        const response = await call(itemsBundle, method, '/api/items/', { token, body });
        expect(response.status, `${name} ${method}`).toBe(401);
        expect(response.headers.get('www-authenticate'), name).toContain('error="invalid_token"');
      }
    }
    expect(await itemCount()).toBe(before);
  });

  it('tokens of a deactivated and of a deleted user stop working on every bundle at once', async () => {
    const config = testConfig({ DATABASE_URL: scratch.url });
    const [inactive, deleted] = await Promise.all([
      createTestUser(database.db, config),
      createTestUser(database.db, config),
    ]);
    // Used once, so each bundle has the user in its cache before the change.
    for (const u of [inactive, deleted]) {
      expect((await call(itemsBundle, 'GET', '/api/items/', { token: u.token })).status).toBe(200);
      expect((await call(usersBundle, 'GET', '/api/users/me', { token: u.token })).status).toBe(200);
    }
    expect(
      (
        await call(usersBundle, 'PATCH', `/api/users/${inactive.user.id}`, {
          token: admin.token,
          body: { is_active: false },
        })
      ).status,
    ).toBe(200);
    expect(
      (await call(usersBundle, 'DELETE', `/api/users/${deleted.user.id}`, { token: admin.token })).status,
    ).toBe(204);
    for (const u of [inactive, deleted]) {
      expect((await call(usersBundle, 'GET', '/api/users/me', { token: u.token })).status).toBe(401);
      // The items process still holds the user in its in-process cache (no Upstash here, so nothing told it),
      // but the database has the last word: a deleted user's write fails on its foreign key and is a 401.
      // A deactivated user's token lives on there until the cache entry expires (60 s) unless a shared cache
      // (UPSTASH_*) carries the drop to every instance.
      const onItems = await call(itemsBundle, 'POST', '/api/items/', {
        token: u.token,
        body: { title: 'after' },
      });
      if (u === deleted) expect(onItems.status).toBe(401);
      else expect([401, 201]).toContain(onItems.status);
    }
  });
});

describe('privilege escalation through writable fields', () => {
  const smuggled = {
    is_superuser: true,
    is_active: true,
    owner_id: '',
    id: randomUUID(),
    created_at: '2000-01-01T00:00:00Z',
    updated_at: '2000-01-01T00:00:00Z',
    hashed_password: 'x',
  };

  it('every privileged field in every body is a 422 and changes nothing', async () => {
    const item = (
      await call(itemsBundle, 'POST', '/api/items/', { token: alice.token, body: { title: 'mine' } })
    ).body as { id: string };
    const targets = [
      {
        bundle: usersBundle,
        method: 'POST',
        path: '/api/users/',
        body: { email: `e-${randomUUID()}@example.com`, password: 'a-good-password' },
        token: undefined,
      },
      {
        bundle: usersBundle,
        method: 'PUT',
        path: '/api/users/me',
        body: { full_name: 'x' },
        token: mallory.token,
      },
      {
        bundle: itemsBundle,
        method: 'POST',
        path: '/api/items/',
        body: { title: 'x' },
        token: mallory.token,
      },
      {
        bundle: itemsBundle,
        method: 'PUT',
        path: `/api/items/${item.id}`,
        body: { title: 'x' },
        token: alice.token,
      },
    ];
    for (const target of targets) {
      for (const [field, value] of Object.entries({ ...smuggled, owner_id: mallory.user.id })) {
        if (target.path.startsWith('/api/items/') && target.method === 'PUT' && field === 'is_active')
          continue; // a real field there
        if (target.path === '/api/users/me' && field === 'is_active') {
          // not writable by a user on themselves either
        }
        const response = await call(target.bundle, target.method, target.path, {
          token: target.token,
          body: { ...target.body, [field]: value },
        });
        expect(response.status, `${target.method} ${target.path} with ${field}`).toBe(422);
        expect(JSON.stringify(response.body)).toContain(field);
      }
    }
    // A normal user cannot administer anyone, themselves included.
    const patch = await call(usersBundle, 'PATCH', `/api/users/${mallory.user.id}`, {
      token: mallory.token,
      body: { is_superuser: true },
    });
    expect(patch.status).toBe(403);
    const row = await database.db
      .selectFrom('user')
      .select(['is_superuser'])
      .where('id', '=', mallory.user.id)
      .executeTakeFirstOrThrow();
    expect(row.is_superuser).toBe(false);
    const stored = await database.db
      .selectFrom('item')
      .select(['title', 'owner_id'])
      .where('id', '=', item.id)
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ title: 'mine', owner_id: alice.user.id });
  });

  it("someone else's item is a 404 to read, change or delete, and never listed", async () => {
    const item = (
      await call(itemsBundle, 'POST', '/api/items/', { token: alice.token, body: { title: 'private' } })
    ).body as { id: string };
    expect((await call(itemsBundle, 'GET', `/api/items/${item.id}`, { token: mallory.token })).status).toBe(
      404,
    );
    expect(
      (
        await call(itemsBundle, 'PUT', `/api/items/${item.id}`, {
          token: mallory.token,
          body: { title: 'mine now' },
        })
      ).status,
    ).toBe(404);
    expect(
      (await call(itemsBundle, 'DELETE', `/api/items/${item.id}`, { token: mallory.token })).status,
    ).toBe(404);
    // Same answer as for an id that does not exist: existence is not revealed.
    const unknown = await call(itemsBundle, 'GET', `/api/items/${randomUUID()}`, { token: mallory.token });
    const others = await call(itemsBundle, 'GET', `/api/items/${item.id}`, { token: mallory.token });
    expect(others.body?.detail).toBe(unknown.body?.detail);
    const list = await call(itemsBundle, 'GET', '/api/items/?limit=1000', { token: mallory.token });
    expect(JSON.stringify(list.body)).not.toContain(item.id);
    const stored = await database.db
      .selectFrom('item')
      .select('title')
      .where('id', '=', item.id)
      .executeTakeFirstOrThrow();
    expect(stored.title).toBe('private');
    // The superuser may.
    expect((await call(itemsBundle, 'GET', `/api/items/${item.id}`, { token: admin.token })).status).toBe(
      200,
    );
  });
});

describe('SQL metacharacters', () => {
  const nasty = [
    "'; DROP TABLE item; --",
    '" OR 1=1 --',
    'Robert\'); DELETE FROM "user";--',
    '\\x27 \\\\ %_ $1 $$ ::text',
    '/* */ UNION SELECT hashed_password FROM "user"',
  ];

  it('round-trip intact through items and users, and reach no query as SQL', async () => {
    for (const text of nasty) {
      const created = await call(itemsBundle, 'POST', '/api/items/', {
        token: alice.token,
        body: { title: text, description: text },
      });
      expect(created.status).toBe(201);
      const read = await call(itemsBundle, 'GET', `/api/items/${(created.body as { id: string }).id}`, {
        token: alice.token,
      });
      expect(read.body).toMatchObject({ title: text, description: text });
      const renamed = await call(usersBundle, 'PUT', '/api/users/me', {
        token: alice.token,
        body: { full_name: text },
      });
      expect(renamed.body?.full_name).toBe(text);
      // In ids and pagination they are 422s.
      expect(
        (await call(itemsBundle, 'GET', `/api/items/${encodeURIComponent(text)}`, { token: alice.token }))
          .status,
      ).toBe(422);
      expect(
        (
          await call(itemsBundle, 'GET', `/api/items/?skip=${encodeURIComponent(text)}`, {
            token: alice.token,
          })
        ).status,
      ).toBe(422);
    }
    const signUp = await call(usersBundle, 'POST', '/api/users/', {
      body: {
        email: `o-brien+${randomUUID().slice(0, 8)}@example.com`,
        password: "pa'ss--word;",
        full_name: nasty[0],
      },
    });
    expect(signUp.status).toBe(201);
    // Every table is still there and whole.
    expect(await itemCount()).toBeGreaterThan(0);
    const users = await database.db.selectFrom('user').select('id').execute();
    expect(users.length).toBeGreaterThanOrEqual(3);
  });
});

describe('prototype pollution', () => {
  it('__proto__ and constructor.prototype in JSON and form bodies are refused and pollute nothing', async () => {
    const payloads = [
      '{"title":"x","__proto__":{"is_superuser":true}}',
      '{"title":"x","constructor":{"prototype":{"is_superuser":true}}}',
      '{"full_name":"x","__proto__":{"is_superuser":true}}',
    ];
    for (const raw of payloads) {
      for (const [bundle, method, path] of [
        [itemsBundle, 'POST', '/api/items/'],
        [usersBundle, 'PUT', '/api/users/me'],
      ] as const) {
        const response = await call(bundle, method, path, { token: mallory.token, raw });
        expect([400, 422], `${path} ${raw}`).toContain(response.status);
      }
    }
    for (const form of [
      'username=a%40b.c&password=x&__proto__[is_superuser]=true',
      '__proto__=x&username=a%40b.c&password=x',
      'constructor[prototype][admin]=1&username=a%40b.c&password=x',
    ]) {
      attempts += 1;
      const response = await fetch(`${authBundle.url}/api/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form,
      });
      expect(response.status, form).toBeLessThan(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    const me = await call(usersBundle, 'GET', '/api/users/me', { token: mallory.token });
    expect(me.body?.is_superuser).toBe(false);
    // Still a normal user on the superuser endpoint: nothing on Object.prototype made it one.
    expect((await call(usersBundle, 'GET', '/api/users/', { token: mallory.token })).status).toBe(403);
  });
});

/** Sends raw bytes, as no well-behaved client would, and returns the raw answer. */
function rawRequest(port: number, bytes: string): Promise<string> {
  attempts += 1;
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(answer) : reject(error),
    );
    socket.write(bytes);
  });
}

/** As rawRequest, with a pause after each part but the last, so the server reads each as a packet of its own. */
async function rawRequestInParts(port: number, parts: string[]): Promise<string> {
  attempts += 1;
  const socket = connect(port, '127.0.0.1').setNoDelay(true);
  const answer = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(text) : reject(error),
    );
  });
  for (const [index, part] of parts.entries()) {
    if (index > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    if (socket.writable) socket.write(part);
  }
  return answer;
}

function parseRaw(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const status = Number(head.split(' ')[1]);
  return {
    status,
    head: head.toLowerCase(),
    body: body ? (JSON.parse(body) as Record<string, unknown>) : {},
  };
}

describe('oversized and malformed requests (raw sockets)', () => {
  it('431 problem+json for headers past the limit, on every bundle', async () => {
    for (const bundle of [authBundle, usersBundle, itemsBundle]) {
      const answer = parseRaw(
        await rawRequest(
          bundle.port,
          `GET /api/users/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        ),
      );
      expect(answer.status).toBe(431);
      expect(answer.head).toContain('content-type: application/problem+json');
      expect(answer.body).toMatchObject({ status: 431, detail: expect.any(String) });
    }
  });

  it('431 problem+json to headers that span several packets, on every bundle', async () => {
    for (const bundle of [authBundle, usersBundle, itemsBundle]) {
      const answer = parseRaw(
        await rawRequestInParts(bundle.port, [
          `GET /api/users/me HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1_000)}`,
          `${'a'.repeat(20_000)}\r\n\r\n`,
        ]),
      );
      expect(answer.status).toBe(431);
      expect(answer.head).toContain('content-type: application/problem+json');
      expect(answer.body).toMatchObject({ status: 431, detail: expect.any(String) });
    }
  });

  it('400 problem+json for a garbled request line or header', async () => {
    for (const bytes of [
      'GARBAGE\r\n\r\n',
      'GET /api/items/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
    ]) {
      const answer = parseRaw(await rawRequest(itemsBundle.port, bytes));
      expect(answer.status, bytes).toBe(400);
      expect(answer.head).toContain('content-type: application/problem+json');
      expect(typeof answer.body.detail).toBe('string');
    }
  });

  it('413 problem+json for a body over 1 MiB, and no item made', async () => {
    const before = await itemCount();
    // Several times over: fetch writes the whole body before it reads the answer, so a server that answered
    // and closed mid-upload gave it a broken pipe (a network error), not the 413, nearly every time.
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await call(itemsBundle, 'POST', '/api/items/', {
        token: alice.token,
        raw: JSON.stringify({ title: 'big', description: 'x'.repeat(8 * 1024 * 1024) }),
      });
      expect(response.status).toBe(413);
    }
    expect(await itemCount()).toBe(before);
  });
});

describe('login: brute force and enumeration on the auth bundle', () => {
  const logIn = async (username: string, password: string) => {
    attempts += 1;
    const started = performance.now();
    const response = await fetch(`${authBundle.url}/api/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username, password }).toString(),
    });
    return {
      status: response.status,
      body: await response.json(),
      headers: response.headers,
      ms: performance.now() - started,
    };
  };

  it('an unknown email and a wrong password answer alike', async () => {
    const unknown = await logIn(`nobody-${randomUUID()}@example.com`, 'wrong-password');
    const wrong = await logIn(admin.user.email, 'wrong-password');
    expect(unknown.status).toBe(wrong.status);
    expect(unknown.body).toEqual(wrong.body);
    const names = (headers: Headers) => {
      const found: string[] = [];
      headers.forEach((_, name) => {
        found.push(name);
      });
      return found.filter((name) => name !== 'x-request-id' && name !== 'date').sort();
    };
    expect(names(unknown.headers)).toEqual(names(wrong.headers));
  });

  it('429 with Retry-After once an account has failed too often, even with the right password', async () => {
    for (let i = 0; i < 3; i++) expect((await logIn(alice.user.email, `guess-${i}`)).status).toBe(400);
    const blocked = await logIn(alice.user.email, alice.password);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(blocked.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
