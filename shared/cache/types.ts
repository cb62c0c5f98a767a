/**
 * The one cache interface every function uses. Reads and writes never throw: a cache that is down or slow
 * makes callers fall through to the database. `increment` does throw (CacheUnavailableError), because a rate
 * limiter must decide for itself whether to fail open or closed.
 */
export interface Cache {
  readonly kind: 'memory' | 'upstash';
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  delete(...keys: string[]): Promise<void>;
  /** Adds one to a counter that expires `windowSeconds` after its first increment. */
  increment(key: string, windowSeconds: number): Promise<{ count: number; ttlSeconds: number }>;
  /** 'ok', or 'down' when the backing store does not answer within its timeout. */
  ping(): Promise<'ok' | 'down'>;
  close(): Promise<void>;
}

export class CacheUnavailableError extends Error {
  constructor(cause: unknown) {
    super('cache unavailable', { cause });
    this.name = 'CacheUnavailableError';
  }
}
