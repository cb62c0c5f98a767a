import { randomUUID } from 'node:crypto';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { definition as health } from '../../functions/health/routes.ts';
import { freePort } from '../../local/embedded-postgres.ts';
import { cacheOperations } from '../../shared/cache/metrics.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer, testConfig } from '../support/app.ts';
import { cacheProbe } from '../support/cache-probe.ts';
import { counted } from '../support/metrics.ts';
import { redisSkipped, redisTitle } from '../support/redis-available.ts';
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts';
import { createTestUser, type TestUser, testDatabase } from '../support/users.ts';

describe.skipIf(redisSkipped)(redisTitle('cache outages on real Redis'), () => {
  // The cache failing (500), hanging (never answering) or unreachable (nothing listening): requests skip it
  // within CACHE_TIMEOUT_MS, health says degraded, the metric counts, login is refused, other routes pass.
  const TIMEOUT_MS = 250;
  const mock = setupServer();
  let bridge: UpstashBridge;
  let database: DatabaseHandle;
  let user: TestUser;

  beforeAll(async () => {
    mock.listen({ onUnhandledRequest: 'bypass' });
    bridge = await startUpstashBridge();
    database = testDatabase(testConfig());
    user = await createTestUser(database.db, testConfig());
  });
  afterEach(() => mock.resetHandlers());
  afterAll(async () => {
    mock.close();
    await database?.close();
    await bridge?.close();
  });

  const env = (url: string) => ({
    UPSTASH_REDIS_REST_URL: url,
    UPSTASH_REDIS_REST_TOKEN: bridge.token,
    CACHE_TIMEOUT_MS: String(TIMEOUT_MS),
    RATE_LIMIT_PER_MINUTE: '2',
  });

  /** Cache calls of every operation that ended with `result`, so far. */
  async function calls(result: string): Promise<number> {
    const { values } = await cacheOperations.get();
    return values
      .filter((v) => v.labels.function === 'probe+health' && v.labels.result === result)
      .reduce((sum, v) => sum + v.value, 0);
  }

  /** What every kind of outage must look like from outside. */
  async function expectOutageHandled(server: TestServer, result: 'error' | 'timeout') {
    const label = { function: 'probe+health', operation: 'get', result };
    // After one failure the cache is skipped for a moment rather than waited for again.
    const skipped = { ...label, result: 'skipped' };
    const before = (await counted(cacheOperations, label)) + (await counted(cacheOperations, skipped));

    const probe = await server.api('/api/health');
    expect(await probe.json()).toEqual({ status: 'degraded', checks: { database: 'ok', cache: 'down' } });

    // Authenticated reads fall through to the database; the per-address limit (2 a minute) fails open.
    const failedBefore = await calls(result);
    for (let i = 0; i < 4; i++) {
      const response = await server.api('/api/probe/me', { headers: user.auth });
      expect(response.status).toBe(200);
    }
    // Of a request's cache calls (limit, read, write back) at most one waits for the failure; after it the
    // cache is skipped, not waited for again.
    expect((await calls(result)) - failedBefore).toBeLessThanOrEqual(4);
    expect(
      (await counted(cacheOperations, label)) + (await counted(cacheOperations, skipped)),
    ).toBeGreaterThanOrEqual(before + 4);

    // Login fails closed: no counter, no login.
    const login = await server.api('/api/probe/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `${randomUUID()}@example.com` }),
    });
    expect(login.status).toBe(503);
    expect(login.headers.get('retry-after')).toBe('5');
    expect(login.headers.get('content-type')).toContain('application/problem+json');
    const body = await login.json();
    expect(body).toMatchObject({
      status: 503,
      detail: 'Login is temporarily unavailable; try again shortly.',
    });
    expect(JSON.stringify(body)).not.toMatch(/upstash|redis|ECONNREFUSED|timeout/i);

    const metrics = await (await server.api('/api/metrics')).text();
    expect(metrics).toMatch(
      new RegExp(
        `cache_operations_total\\{function="probe\\+health",operation="\\w+",result="${result}"\\} \\d+`,
      ),
    );
  }

  describe('when the cache fails', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer([cacheProbe, health], env(bridge.url));
    });
    afterAll(() => server?.stop());

    it('answers 500s: requests skip it, login is refused, and it is used again once it recovers', async () => {
      mock.use(
        http.post(`${bridge.url}/*`, () => HttpResponse.json({ error: 'ERR internal' }, { status: 500 })),
      );
      await expectOutageHandled(server, 'error');

      // Working again, the per-address limit (2 a minute) counts: each request comes from an address of its own.
      mock.resetHandlers();
      let octet = 0;
      const from = () => ({ 'x-forwarded-for': `192.0.2.${++octet}` });
      const status = async () =>
        ((await (await server.api('/api/health', { headers: from() })).json()) as { status: string }).status;
      await expect.poll(status).toBe('ok');
      const hit = { function: 'probe+health', operation: 'get', result: 'hit' };
      const hits = await counted(cacheOperations, hit);
      for (let i = 0; i < 2; i++) {
        const me = await server.api('/api/probe/me', { headers: { ...user.auth, ...from() } });
        expect(me.status).toBe(200);
      }
      expect(await counted(cacheOperations, hit)).toBeGreaterThan(hits);
    });

    it('hangs: every call is cut off at CACHE_TIMEOUT_MS', async () => {
      mock.use(http.post(`${bridge.url}/*`, () => new Promise<never>(() => {})));
      await expectOutageHandled(server, 'timeout');
    });
  });

  describe('when the cache is unreachable', () => {
    let server: TestServer;
    beforeAll(async () => {
      // A port nobody listens on: connections are refused for real.
      server = await startTestServer([cacheProbe, health], env(`http://127.0.0.1:${await freePort()}`));
    });
    afterAll(() => server?.stop());

    it('requests skip it, login is refused', async () => {
      await expectOutageHandled(server, 'error');
    });
  });

  describe('with no cache configured', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer([cacheProbe, health], {
        RATE_LIMIT_PER_MINUTE: '3',
        LOGIN_RATE_LIMIT_PER_ACCOUNT: '2',
      });
    });
    afterAll(() => server?.stop());

    it('uses the in-process cache: health says disabled, limits still hold in this process', async () => {
      expect(server.ctx.cache.kind).toBe('memory');
      const probe = await server.api('/api/health', { headers: { 'x-forwarded-for': '192.0.2.1' } });
      expect(await probe.json()).toEqual({ status: 'ok', checks: { database: 'ok', cache: 'disabled' } });

      const email = `${randomUUID()}@example.com`;
      const attempt = (address: string) =>
        server.api('/api/probe/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
          body: JSON.stringify({ username: email }),
        });
      expect((await attempt('192.0.2.2')).status).toBe(401);
      expect((await attempt('192.0.2.3')).status).toBe(401);
      expect((await attempt('192.0.2.4')).status).toBe(429);

      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push(
          (await server.api('/api/health/', { headers: { 'x-forwarded-for': '192.0.2.9' } })).status,
        );
      expect(statuses).toEqual([200, 200, 200, 429]);
    });
  });
});
