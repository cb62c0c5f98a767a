import { inject } from 'vitest';

/**
 * The cache tests run on a real Redis (REDIS_URL, default 127.0.0.1:6379), which CI always has. On a laptop
 * without one they are reported as skipped, with this reason in their name, never silently passed.
 */
export const redisSkipped = !inject('redisAvailable') && process.env.CI !== 'true';
export const redisTitle = (title: string) =>
  redisSkipped
    ? `${title} (skipped: no Redis at ${process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'})`
    : title;
