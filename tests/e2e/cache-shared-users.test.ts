import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { redisSkipped, redisTitle } from '../support/redis-available.ts';
import { startUpstashBridge, type UpstashBridge } from '../support/upstash-bridge.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

describe.skipIf(redisSkipped)(redisTitle('bundles sharing one cache on real Redis'), () => {
  // The "done when", on the real topology: two built `users` bundles and two `auth` bundles, separate
  // processes on their own ports, sharing one Redis through the Upstash REST bridge. Written against the
  // contract; it runs as soon as the users and auth functions exist on the branch.
  const functionsPresent = ['users', 'auth'].every((name) => existsSync(`functions/${name}/index.ts`));

  describe.runIf(functionsPresent)('bundles sharing one Redis', () => {
    let bridge: UpstashBridge;
    let database: DatabaseHandle;
    const bundles: RunningBundle[] = [];

    const start = async (name: string, extra: Record<string, string> = {}) => {
      const bundle = await startBundle(name, {
        DATABASE_URL: inject('databaseUrl'),
        SECRET_KEY: TEST_SECRET_KEY,
        BCRYPT_COST: '4',
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '0',
        // Sharing is under test here, not the timeout: leave room for a loaded test machine.
        CACHE_TIMEOUT_MS: '2000',
        ...bridge.env,
        ...extra,
      });
      bundles.push(bundle);
      return bundle;
    };

    beforeAll(async () => {
      bridge = await startUpstashBridge();
      database = testDatabase(testConfig());
    }, 60_000);

    afterAll(async () => {
      await Promise.all(bundles.map((bundle) => bundle.stop('SIGKILL')));
      await database?.close();
      await bridge?.close();
    });

    it('a user deactivated through one users bundle is refused at once by the other', async () => {
      const [first, second] = [await start('users'), await start('users')];
      const admin = await createTestUser(database.db, testConfig(), { superuser: true });
      const member = await createTestUser(database.db, testConfig());

      // The second instance caches the member's user row.
      const before = await fetch(`${second.url}/api/users/me`, { headers: member.auth });
      expect(before.status).toBe(200);

      const patched = await fetch(`${first.url}/api/users/${member.user.id}`, {
        method: 'PATCH',
        headers: { ...admin.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ is_active: false }),
      });
      expect(patched.status).toBe(200);

      const after = await fetch(`${second.url}/api/users/me`, { headers: member.auth });
      expect(after.status).toBe(401);
    });

    it('the login limit counts attempts made on both auth bundles', async () => {
      const limits = { LOGIN_RATE_LIMIT_PER_ACCOUNT: '3', LOGIN_RATE_LIMIT_WINDOW_SECONDS: '600' };
      const [first, second] = [await start('auth', limits), await start('auth', limits)];
      const { user } = await createTestUser(database.db, testConfig(), {
        email: `${randomUUID()}@example.com`,
      });
      const attempt = (bundle: RunningBundle) =>
        fetch(`${bundle.url}/api/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: user.email, password: 'wrong-password' }),
        });

      for (const bundle of [first, second, first])
        expect([400, 401]).toContain((await attempt(bundle)).status);
      const blocked = await attempt(second);
      expect(blocked.status).toBe(429);
      const retryAfter = Number(blocked.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(600);
    });
  });
});
