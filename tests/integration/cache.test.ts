import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCache } from '../../shared/cache/index.ts';
import { cacheOperations } from '../../shared/cache/metrics.ts';
import type { Cache } from '../../shared/cache/types.ts';
import { UpstashCache } from '../../shared/cache/upstash.ts';
import { testConfig } from '../support/app.ts';
import { counted } from '../support/metrics.ts';
import { redisSkipped, redisTitle } from '../support/redis-available.ts';
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts';

describe.skipIf(redisSkipped)(redisTitle('cache implementations on real Redis'), () => {
  // Both implementations pass the same behaviour; the Upstash one through the REST bridge to the real Redis.
  let bridge: UpstashBridge;
  const caches: Record<'memory' | 'upstash', Cache> = {} as Record<'memory' | 'upstash', Cache>;

  beforeAll(async () => {
    bridge = await startUpstashBridge();
    caches.memory = createCache(testConfig(), undefined, 'cache-test-memory');
    caches.upstash = createCache(testConfig(bridge.env), undefined, 'cache-test-upstash');
  });

  afterAll(async () => {
    await bridge?.close();
  });

  let n = 0;
  const key = (name: string) => `fs:test:v1:${name}:${++n}`;

  describe.each(['memory', 'upstash'] as const)('%s cache', (kind) => {
    const cache = () => caches[kind];

    it('is the implementation the configuration asks for', () => {
      expect(cache().kind).toBe(kind);
    });

    it('round-trips JSON values, the same way in both implementations', async () => {
      const k = key('value');
      const when = new Date('2024-05-06T07:08:09.000Z');
      await cache().set(k, { name: 'Zoë ✓', when, tags: ['a', 'b'], n: 1.5, none: null }, 30);
      expect(await cache().get(k)).toEqual({
        name: 'Zoë ✓',
        when: '2024-05-06T07:08:09.000Z',
        tags: ['a', 'b'],
        n: 1.5,
        none: null,
      });
    });

    it('misses unknown keys and forgets deleted ones', async () => {
      const [a, b] = [key('a'), key('b')];
      expect(await cache().get(a)).toBeUndefined();
      await cache().set(a, 'first', 30);
      await cache().set(b, 0, 30);
      expect(await cache().get(b)).toBe(0);
      await cache().delete(a, b);
      expect(await cache().get(a)).toBeUndefined();
      expect(await cache().get(b)).toBeUndefined();
      await cache().delete();
    });

    it('expires values after their TTL', async () => {
      const k = key('ttl');
      await cache().set(k, { x: 1 }, 1);
      expect(await cache().get(k)).toEqual({ x: 1 });
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await cache().get(k)).toBeUndefined();
    });

    it('counts within a window that the first increment starts and later ones do not extend', async () => {
      const k = key('counter');
      expect(await cache().peekCounter(k)).toEqual({ count: 0, ttlSeconds: 0 });
      expect(await cache().increment(k, 60)).toEqual({ count: 1, ttlSeconds: 60 });
      const second = await cache().increment(k, 3_600);
      expect(second.count).toBe(2);
      expect(second.ttlSeconds).toBeLessThanOrEqual(60);
      expect(second.ttlSeconds).toBeGreaterThan(55);
      const peeked = await cache().peekCounter(k);
      expect(peeked.count).toBe(2);
      expect(peeked.ttlSeconds).toBeLessThanOrEqual(60);
      expect(await cache().peekCounter(k)).toMatchObject({ count: 2 });
    });

    it('starts a new window once the old one has expired', async () => {
      const k = key('window');
      await cache().increment(k, 1);
      await cache().increment(k, 1);
      await new Promise((r) => setTimeout(r, 1_100));
      expect(await cache().peekCounter(k)).toEqual({ count: 0, ttlSeconds: 0 });
      expect((await cache().increment(k, 1)).count).toBe(1);
    });

    it('pings', async () => {
      expect(await cache().ping()).toBe('ok');
    });
  });

  describe('upstash cache on the real Redis', () => {
    it('stores namespaced JSON with the TTL asked for', async () => {
      const k = key('raw');
      await caches.upstash.set(k, { a: 1 }, 120);
      expect(await bridge.redis.call('GET', bridge.key(k))).toBe('{"a":1}');
      const ttl = (await bridge.redis.call('TTL', bridge.key(k))) as number;
      expect(ttl).toBeGreaterThan(115);
      expect(ttl).toBeLessThanOrEqual(120);
    });

    it('gives every counter an expiry, even under concurrent increments from many clients', async () => {
      const k = key('concurrent');
      const others = [1, 2, 3].map(
        (i) =>
          new UpstashCache({
            ...bridge.env,
            url: bridge.url,
            token: bridge.token,
            timeoutMs: 2_000,
            functionName: `c${i}`,
          }),
      );
      const counts = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (others[i % 3] as UpstashCache).increment(k, 90)),
      );
      expect(counts.map((c) => c.count).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 30 }, (_, i) => i + 1),
      );
      const ttl = (await bridge.redis.call('TTL', bridge.key(k))) as number;
      expect(ttl).toBeGreaterThan(85);
    });

    it('treats an entry that is not JSON as a miss', async () => {
      const k = key('garbage');
      await bridge.redis.call('SET', bridge.key(k), '{not json', 'EX', 30);
      expect(await caches.upstash.get(k)).toBeUndefined();
    });

    it('counts hits and misses in cache_operations_total', async () => {
      const labels = (result: string) => ({ function: 'cache-test-upstash', operation: 'get', result });
      const [hits, misses] = [
        await counted(cacheOperations, labels('hit')),
        await counted(cacheOperations, labels('miss')),
      ];
      const k = key('metric');
      await caches.upstash.get(k);
      await caches.upstash.set(k, 1, 30);
      await caches.upstash.get(k);
      expect(await counted(cacheOperations, labels('miss'))).toBe(misses + 1);
      expect(await counted(cacheOperations, labels('hit'))).toBe(hits + 1);
    });
  });

  describe('the Upstash REST bridge', () => {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${bridge.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bridge.token}`, 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      });

    it('answers as Upstash does: results, errors, pipelines, transactions, base64 on request', async () => {
      const k = key('bridge');
      expect(await (await post('/', ['SET', k, 'héllo'])).json()).toEqual({ result: 'OK' });
      expect(await (await post('/', ['GET', k])).json()).toEqual({ result: 'héllo' });
      expect(await (await post('/', ['GET', k], { 'upstash-encoding': 'base64' })).json()).toEqual({
        result: Buffer.from('héllo').toString('base64'),
      });
      const wrongType = await post('/', ['INCR', k]);
      expect(wrongType.status).toBe(400);
      expect(await wrongType.json()).toEqual({ error: expect.stringContaining('ERR') });
      expect(
        await (
          await post('/pipeline', [
            ['INCR', `${k}:n`],
            ['INCR', k],
            ['GET', `${k}:n`],
          ])
        ).json(),
      ).toEqual([{ result: 1 }, { error: expect.stringContaining('ERR') }, { result: '1' }]);
      expect(
        await (
          await post('/multi-exec', [
            ['INCR', `${k}:n`],
            ['TTL', `${k}:n`],
          ])
        ).json(),
      ).toEqual([{ result: 2 }, { result: -1 }]);
    });

    it('refuses a request without the token', async () => {
      const response = await post('/', ['PING'], { authorization: 'Bearer wrong' });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: 'Unauthorized' });
    });
  });
});
