import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definition as health } from '../../functions/health/routes.ts';
import { forgetUser } from '../../shared/auth/current-user.ts';
import { cacheKeys } from '../../shared/cache/keys.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { startTestServer, type TestServer, testConfig } from '../support/app.ts';
import { cacheProbe } from '../support/cache-probe.ts';
import { redisSkipped, redisTitle } from '../support/redis-available.ts';
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

describe.skipIf(redisSkipped)(redisTitle('shared cache across instances on real Redis'), () => {
  // Two instances of one function with the same Upstash settings, as two pods behind one route: they must
  // count together and see each other's invalidations, through the REST bridge to the real Redis.
  let bridge: UpstashBridge;
  let a: TestServer;
  let b: TestServer;
  let database: DatabaseHandle;

  const env = () => ({
    ...bridge.env,
    // Sharing is under test here, not the timeout (cache-outage.test.ts): leave room for a loaded machine.
    CACHE_TIMEOUT_MS: '2000',
    RATE_LIMIT_PER_MINUTE: '6',
    LOGIN_RATE_LIMIT_PER_ACCOUNT: '3',
    LOGIN_RATE_LIMIT_PER_ADDRESS: '4',
    LOGIN_RATE_LIMIT_WINDOW_SECONDS: '900',
    BACKEND_CORS_ORIGINS: 'http://app.example.com',
  });

  beforeAll(async () => {
    bridge = await startUpstashBridge();
    [a, b] = await Promise.all([
      startTestServer([cacheProbe, health], env()),
      startTestServer([cacheProbe, health], env()),
    ]);
    database = testDatabase(testConfig());
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.close();
    await bridge?.close();
  });

  // Each test is its own client address (the servers trust X-Forwarded-For from loopback, as from the mesh).
  const newAddress = () => `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
  let lastOctet = 0;
  const uniqueAddress = () => `203.0.113.${++lastOctet}`;

  function login(server: TestServer, username: string, address: string) {
    return server.api('/api/probe/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ username }),
    });
  }

  describe('two instances sharing one Upstash cache', () => {
    it('report the cache as ok', async () => {
      const response = await a.api('/api/health', { headers: { 'x-forwarded-for': uniqueAddress() } });
      expect(await response.json()).toEqual({ status: 'ok', checks: { database: 'ok', cache: 'ok' } });
    });

    it('count failed logins of one account together, whichever instance gets them', async () => {
      const email = `victim-${randomUUID()}@example.com`;
      const statuses = [];
      for (const server of [a, b, a]) statuses.push((await login(server, email, uniqueAddress())).status);
      expect(statuses).toEqual([401, 401, 401]);

      const blocked = await login(b, email.toUpperCase(), uniqueAddress());
      expect(blocked.status).toBe(429);
      expect(blocked.headers.get('content-type')).toContain('application/problem+json');
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(890);
      expect(retryAfter).toBeLessThanOrEqual(900);
      expect(await blocked.json()).toMatchObject({
        status: 429,
        detail: 'Too many failed logins; try again later.',
      });
      expect((await login(a, email, uniqueAddress())).status).toBe(429);

      // Another account is not affected.
      expect((await login(a, `other-${randomUUID()}@example.com`, uniqueAddress())).status).toBe(401);
    });

    it('count failed logins from one address together, across accounts and instances', async () => {
      const address = uniqueAddress();
      const statuses = [];
      for (const server of [a, b, a, b])
        statuses.push((await login(server, `${randomUUID()}@example.com`, address)).status);
      expect(statuses).toEqual([401, 401, 401, 401]);
      expect((await login(a, `${randomUUID()}@example.com`, address)).status).toBe(429);
      expect((await login(a, `${randomUUID()}@example.com`, uniqueAddress())).status).toBe(401);
    });

    it('limit one address on every route across instances, never the probes', async () => {
      const address = uniqueAddress();
      const headers = { 'x-forwarded-for': address, origin: 'http://app.example.com' };
      const statuses = [];
      for (let i = 0; i < 6; i++)
        statuses.push((await (i % 2 ? a : b).api('/api/health', { headers })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);

      const limited = await a.api('/api/health', { headers });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('content-type')).toContain('application/problem+json');
      expect(limited.headers.get('access-control-allow-origin')).toBe('http://app.example.com');
      const retryAfter = Number(limited.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(await limited.json()).toMatchObject({
        status: 429,
        title: 'Too Many Requests',
        instance: '/api/health',
      });
      expect((await b.api('/api/probe/nothing', { headers })).status).toBe(429);

      expect((await b.api('/api/health/live', { headers })).status).toBe(200);
      expect((await a.api('/api/metrics/', { headers })).status).toBe(200);
      expect((await a.api('/api/health', { headers: { 'x-forwarded-for': uniqueAddress() } })).status).toBe(
        200,
      );
      expect(await bridge.redis.call('GET', bridge.key(cacheKeys.rate('address', address)))).toBe('8');
    });

    it('serve a user cached by one instance from the other, and drop it for both at once', async () => {
      const { user, auth } = await createTestUser(database.db, a.ctx.config, { fullName: 'Before' });
      const headers = { ...auth, 'x-forwarded-for': newAddress() };
      expect(await (await b.api('/api/probe/me', { headers })).json()).toMatchObject({ full_name: 'Before' });

      // Changed behind the cache's back: A still answers from the entry B cached, so the cache is shared.
      await database.db.updateTable('user').set({ full_name: 'After' }).where('id', '=', user.id).execute();
      expect(await (await a.api('/api/probe/me', { headers })).json()).toMatchObject({ full_name: 'Before' });

      // Deactivated through A (what the users function does: write, then forget): B refuses at once.
      await database.db.updateTable('user').set({ is_active: false }).where('id', '=', user.id).execute();
      await forgetUser(a.ctx, user.id);
      const refused = await b.api('/api/probe/me', { headers });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
      expect((await a.api('/api/probe/me', { headers })).status).toBe(401);
    });
  });
});
