import { counter } from '../telemetry/metrics.ts';

export type CacheOperation = 'get' | 'set' | 'delete' | 'increment' | 'peek' | 'ping';
/** hit/miss for reads, ok for everything else that worked; error and timeout are what alerts watch. */
export type CacheResult = 'hit' | 'miss' | 'ok' | 'error' | 'timeout' | 'skipped';

export const cacheOperations = counter(
  'cache_operations_total',
  'Cache operations, by function, operation and result (hit, miss, ok, error, timeout, skipped).',
  ['function', 'operation', 'result'],
);

export function countCacheOperation(functionName: string, operation: CacheOperation, result: CacheResult) {
  cacheOperations.inc({ function: functionName, operation, result });
}
