import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import type { Db } from '../../shared/db/index.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

// Swagger UI and ReDoc in Debian's Chromium (never a downloaded browser), against the all-in-one app over real
// HTTP: nothing may leave 127.0.0.1 and the pages' Content-Security-Policy must not have to block anything.

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);

/** Logs in through Swagger UI's Authorize dialog, as a person would. */
async function authorize(email: string, password: string) {
  await page.locator('.auth-wrapper button.authorize').click();
  await page.locator('#oauth_username').fill(email);
  await page.locator('#oauth_password').fill(password);
  await page.locator('.auth-btn-wrapper button.authorize').click();
  // Once authorized, the dialog offers to log out instead.
  await expect.poll(() => page.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).count()).toBe(1);
  await page.locator('.auth-btn-wrapper button.btn-done').click();
  const tokenRequest = requests.find((r) => r.url === `${server.url}/api/auth/token`);
  expect(tokenRequest?.method).toBe('POST');
  expect(tokenRequest?.headers['content-type']).toContain('application/x-www-form-urlencoded');
}

/** The operation block of one method and path. */
const operation = (method: string, path: string) =>
  page.locator(`.opblock-${method}`, { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });

const statusOf = (block: ReturnType<typeof operation>) =>
  block.locator('.live-responses-table .response .response-col_status').first().textContent();

let server: TestServer;
let database: ReturnType<typeof testDatabase>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let requests: { url: string; method: string; headers: Record<string, string> }[];
let pageErrors: string[];

beforeAll(async () => {
  if (!hasChromium) return;
  server = await startTestServer(allFunctions);
  database = testDatabase(server.ctx.config);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await database?.close();
  await server?.stop();
});

beforeEach(async () => {
  if (!hasChromium) return;
  context = await browser.newContext();
  // Every policy violation is recorded in the page itself: a blocked script or style is a failure.
  await context.addInitScript({
    content: `window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page = await context.newPage();
  requests = [];
  pageErrors = [];
  page.on('request', (request) =>
    requests.push({ url: request.url(), method: request.method(), headers: request.headers() }),
  );
  page.on('pageerror', (error) => pageErrors.push(error.message));
});

afterEach(async () => {
  if (!hasChromium) return;
  const violations = await page.evaluate('window.cspViolations');
  await context.close();
  expect(violations).toEqual([]);
  expect(pageErrors).toEqual([]);
  // Fonts, logos, validator badges, CDNs: nothing but this host.
  const elsewhere = requests.filter((r) => !/^(https?:\/\/127\.0\.0\.1:\d+\/|data:|blob:)/.test(r.url));
  expect(elsewhere).toEqual([]);
});

const suite = hasChromium
  ? 'docs pages in Chromium'
  : `docs pages in Chromium (skipped: no browser at ${CHROMIUM}; apt-get install chromium)`;

describe.skipIf(!hasChromium)(suite, () => {
  it('Swagger UI shows every operation and "Try it out" calls the API', async () => {
    const document = (await (await server.api('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operationCount = Object.values(document.paths).reduce((n, item) => n + Object.keys(item).length, 0);

    await page.goto(`${server.url}/api/docs`);
    await expect
      .poll(() => page.locator('.swagger-ui .info .title').textContent())
      .toContain('Function set API');
    await expect.poll(() => page.locator('.opblock').count()).toBe(operationCount);
    await expect.poll(() => page.locator('button.authorize').count()).toBeGreaterThan(0);

    const live = page.locator('.opblock-get', {
      has: page.locator('.opblock-summary-path[data-path="/api/health/live"]'),
    });
    await live.locator('.opblock-summary').click();
    await live.locator('button.try-out__btn').click();
    await live.locator('button.execute').click();
    await expect
      .poll(() => live.locator('.live-responses-table .response .response-col_status').first().textContent())
      .toContain('200');
    expect(requests.some((r) => r.url === `${server.url}/api/health/live`)).toBe(true);
  });

  it('ReDoc renders the API reference', async () => {
    await page.goto(`${server.url}/api/redoc`);
    await expect
      .poll(() => page.locator('h1').first().textContent(), { timeout: 20_000 })
      .toContain('Function set API');
    await expect
      .poll(() => page.getByText('Readiness: the database and the cache').count())
      .toBeGreaterThan(0);
    expect(requests.some((r) => r.url === `${server.url}/api/openapi.json`)).toBe(true);
  });

  it('Authorize logs in with the password flow, and "Try it out" then sends the token', async () => {
    const user = await createTestUser(database.db as Db, server.ctx.config);
    await page.goto(`${server.url}/api/docs`);
    await authorize(user.user.email, user.password);

    const me = operation('get', '/api/users/me');
    await me.locator('.opblock-summary').click();
    await me.locator('button.try-out__btn').click();
    await me.locator('button.execute').click();
    await expect.poll(() => statusOf(me)).toContain('200');
    await expect
      .poll(() =>
        me.locator('.live-responses-table .response .response-col_description').first().textContent(),
      )
      .toContain(user.user.email);
    const sent = requests.find((r) => r.url === `${server.url}/api/users/me`);
    expect(sent?.headers.authorization).toMatch(/^Bearer \S+$/);
  });

  it('Authorize, then "Try it out" on POST /api/items/ creates an item: 201', async () => {
    const user = await createTestUser(database.db as Db, server.ctx.config);
    await page.goto(`${server.url}/api/docs`);
    await authorize(user.user.email, user.password);

    const create = operation('post', '/api/items/');
    await create.locator('.opblock-summary').click();
    await create.locator('button.try-out__btn').click();
    await create.locator('textarea.body-param__text').fill(JSON.stringify({ title: 'Made in Swagger UI' }));
    await create.locator('button.execute').click();
    await expect.poll(() => statusOf(create)).toContain('201');

    const sent = requests.find((r) => r.method === 'POST' && r.url === `${server.url}/api/items/`);
    expect(sent?.headers.authorization).toMatch(/^Bearer \S+$/);
    const rows = await database.db
      .selectFrom('item')
      .select(['title', 'owner_id'])
      .where('owner_id', '=', user.user.id)
      .execute();
    expect(rows).toEqual([{ title: 'Made in Swagger UI', owner_id: user.user.id }]);
  });
});
