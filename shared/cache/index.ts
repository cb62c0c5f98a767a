import type { Config } from '../config.ts';
import type { Logger } from '../telemetry/logger.ts';
import { MemoryCache } from './memory.ts';
import type { Cache } from './types.ts';
import { UpstashCache } from './upstash.ts';

export type { Cache, CounterState } from './types.ts';
export { CacheUnavailableError } from './types.ts';

/**
 * Upstash (shared by every instance) when configured, otherwise per-process memory. `functionName` labels the
 * cache_operations_total metric.
 */
export function createCache(config: Config, log?: Logger, functionName = 'unknown'): Cache {
  const { upstashUrl, upstashToken, timeoutMs } = config.cache;
  if (upstashUrl && upstashToken) {
    return new UpstashCache({ url: upstashUrl, token: upstashToken, timeoutMs, functionName, log });
  }
  return new MemoryCache({ functionName });
}
