/**
 * The one cache interface every function uses. Values go through JSON in every implementation (a Date comes
 * back as its ISO string), so code that works on the in-process cache works on the shared one.
 *
 * Reads and writes never throw: a cache that is down or slow makes callers fall through to the database.
 * The counter operations do throw (CacheUnavailableError), because a rate limiter must decide for itself
 * whether to fail open or closed, and "the cache did not answer" must never read as "nobody tried yet".
 */
export interface Cache {
  readonly kind: 'memory' | 'upstash';
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlSeconds: number): Promise<void>;
  delete(...keys: string[]): Promise<void>;
  /** Adds one to a counter that expires `windowSeconds` after its first increment. */
  increment(key: string, windowSeconds: number): Promise<CounterState>;
  /** Reads a counter without changing it: count 0 when it does not exist (or has expired). */
  peekCounter(key: string): Promise<CounterState>;
  /** 'ok', or 'down' when the backing store does not answer within its timeout. */
  ping(): Promise<'ok' | 'down'>;
  close(): Promise<void>;
}

export interface CounterState {
  count: number;
  /** Seconds until the counter's window ends; 0 when there is no counter. */
  ttlSeconds: number;
}

export class CacheUnavailableError extends Error {
  constructor(cause: unknown) {
    super('cache unavailable', { cause });
    this.name = 'CacheUnavailableError';
  }
}
