import type { Config } from '../config.ts';
import type { Logger } from '../telemetry/logger.ts';
import { MemoryCache } from './memory.ts';
import type { Cache } from './types.ts';

export type { Cache } from './types.ts';
export { CacheUnavailableError } from './types.ts';

/** Upstash (shared by every instance) when configured, otherwise per-process memory. */
export function createCache(config: Config, _log?: Logger): Cache {
  if (config.cache.upstashUrl && config.cache.upstashToken) {
    throw new Error('the Upstash cache is not implemented yet');
  }
  return new MemoryCache();
}
