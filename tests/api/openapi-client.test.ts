import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

// What a client generator makes of the document: openapi-typescript types, a program written against them with
// openapi-fetch, type-checked by tsc and run against the app. A misuse must not type-check.

const run = promisify(execFile);

let server: TestServer;
let database: ReturnType<typeof testDatabase>;
let user: TestUser;
let root: string;
let schema: string;
let checked: { ok: boolean; output: string };

/** A program using the generated client; it prints what it got as one JSON line. */
const USERS_PROGRAM = `import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const [baseUrl, username, password] = process.argv.slice(2) as [string, string, string];
const client = createClient<paths>({ baseUrl });

const login = await client.POST('/api/auth/token', {
  body: { username, password, grant_type: 'password' },
  bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
if (!login.data) throw new Error('login failed: ' + JSON.stringify(login.error));
const tokenType: 'bearer' | string = login.data.token_type;
const refreshToken: string | undefined = login.data.refresh_token;
if (!refreshToken) throw new Error('no refresh token');

const refreshed = await client.POST('/api/auth/token', {
  body: { grant_type: 'refresh_token', refresh_token: refreshToken },
  bodySerializer: (body) => new URLSearchParams(body as Record<string, string>).toString(),
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
});
if (!refreshed.data) throw new Error('refresh failed: ' + JSON.stringify(refreshed.error));
const rotated = refreshed.data.refresh_token !== refreshToken;
const sessionSeconds: number = refreshed.data.refresh_expires_in;
const headers = { authorization: 'Bearer ' + refreshed.data.access_token };

const me = await client.GET('/api/users/me', { headers });
if (!me.data) throw new Error('me failed');
const email: string = me.data.email;
const superuser: boolean = me.data.is_superuser;

const missing = await client.GET('/api/users/{user_id}', {
  params: { path: { user_id: 'not-a-uuid' } },
  headers,
});
const problem = missing.error;

const health = await client.GET('/api/health/live');

const logout = await client.POST('/api/auth/logout', { headers });
const afterLogout = await client.GET('/api/users/me', { headers });
console.log(JSON.stringify({
  tokenType,
  rotated,
  sessionSeconds,
  email,
  superuser,
  status: missing.response.status,
  problem,
  health: health.data,
  logout: logout.response.status,
  afterLogout: afterLogout.response.status,
}));
`;

const ITEMS_PROGRAM = `import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

const [baseUrl, token] = process.argv.slice(2) as [string, string];
const client = createClient<paths>({ baseUrl, headers: { authorization: 'Bearer ' + token } });

const created = await client.POST('/api/items/', { body: { title: 'From the generated client' } });
if (!created.data) throw new Error('create failed: ' + JSON.stringify(created.error));
const id: string = created.data.id;
const list = await client.GET('/api/items/', { params: { query: { limit: 10 } } });
const count: number = list.data?.count ?? -1;
const titles: string[] = (list.data?.data ?? []).map((item) => item.title);
console.log(JSON.stringify({ status: created.response.status, id, count, titles }));
`;

/** Mistakes the generated types must catch: a missing required field, a field sign-up rejects, one never sent. */
const MISUSE_PROGRAM = `import createClient from 'openapi-fetch';
import type { paths } from './schema.js';

type SignUp = paths['/api/users/']['post']['requestBody']['content']['application/json'];
const client = createClient<paths>({ baseUrl: 'http://127.0.0.1' });
await client.POST('/api/users/', { body: { email: 'a@example.com' } });
const smuggled: SignUp = { email: 'a@example.com', password: 'long-enough', is_superuser: true };
const me = await client.GET('/api/users/me');
console.log(smuggled, me.data?.hashed_password);
`;

/** A little TypeScript project: the generated types, the programs, a strict tsconfig. Returns its folder. */
function writeProject(name: string, programs: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: true,
        types: ['node'],
        lib: ['ES2022', 'DOM'],
        outDir: 'out',
      },
      include: ['*.ts'],
    }),
  );
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(dir, 'schema.d.ts'), schema);
  for (const [file, text] of Object.entries(programs)) writeFileSync(join(dir, file), text);
  return dir;
}

async function tsc(dir: string): Promise<{ ok: boolean; output: string }> {
  try {
    await run(process.execPath, [resolve('node_modules/typescript/bin/tsc'), '-p', dir]);
    return { ok: true, output: '' };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function runProgram(name: string, args: string[]): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [join(root, 'client', 'out', `${name}.js`), ...args]);
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

beforeAll(async () => {
  server = await startTestServer(allFunctions);
  database = testDatabase(server.ctx.config);
  user = await createTestUser(database.db, server.ctx.config);
  // Inside the checkout so the programs resolve openapi-fetch and @types/node from its node_modules.
  mkdirSync(resolve('node_modules/.cache'), { recursive: true });
  root = mkdtempSync(resolve('node_modules/.cache/openapi-client-'));
  const document = (await (await server.api('/api/openapi.json')).json()) as OpenAPI3;
  schema = astToString(await openapiTS(document));
  checked = await tsc(writeProject('client', { 'users.ts': USERS_PROGRAM, 'items.ts': ITEMS_PROGRAM }));
}, 120_000);

afterAll(async () => {
  if (root) rmSync(root, { recursive: true, force: true });
  await database?.close();
  await server?.stop();
});

describe('a client generated from the document', () => {
  it('type-checks a program that uses it (login, refresh, logout), and that program works against the app', async () => {
    expect(checked.output).toBe('');
    expect(checked.ok).toBe(true);

    const result = await runProgram('users', [server.url, user.user.email, user.password]);
    expect(result).toEqual({
      tokenType: 'bearer',
      rotated: true,
      sessionSeconds: expect.any(Number),
      email: user.user.email,
      superuser: false,
      status: 422,
      problem: expect.objectContaining({
        status: 422,
        errors: [expect.objectContaining({ path: 'path.user_id' })],
      }),
      health: { status: 'ok' },
      logout: 204,
      afterLogout: 401,
    });
  }, 60_000);

  it('creates and lists items through the typed client', async () => {
    const result = await runProgram('items', [server.url, user.token]);
    expect(result).toEqual({
      status: 201,
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      count: 1,
      titles: ['From the generated client'],
    });
  });

  it('rejects, at compile time, a body the API would reject and a field it never sends', async () => {
    const misuse = await tsc(writeProject('misuse', { 'misuse.ts': MISUSE_PROGRAM }));
    expect(misuse.ok).toBe(false);
    expect(misuse.output).toMatch(/misuse\.ts\(6,[^\n]*\n\s*Property 'password' is missing/);
    expect(misuse.output).toMatch(/misuse\.ts\(7,.*is_superuser/);
    expect(misuse.output).toMatch(/misuse\.ts\(9,.*hashed_password/);
  }, 60_000);
});
