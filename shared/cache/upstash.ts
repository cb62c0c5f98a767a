import type { Redis } from '@upstash/redis';
import type { Logger } from '../telemetry/logger.ts';
import { type CacheOperation, type CacheResult, countCacheOperation } from './metrics.ts';
import { type Cache, CacheUnavailableError, type CounterState } from './types.ts';

export interface UpstashCacheOptions {
  url: string;
  token: string;
  /** The most any one operation may wait for the cache (the one-time client loading aside). */
  timeoutMs: number;
  functionName: string;
  log?: Logger | undefined;
}

class CacheTimeoutError extends Error {
  constructor(ms: number) {
    super(`the cache did not answer within ${ms} ms`);
    this.name = 'CacheTimeoutError';
  }
}

function isTimeout(error: unknown): boolean {
  return (
    error instanceof CacheTimeoutError ||
    (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
  );
}

/** The client's errors quote the whole command, values included: keep cached users' data out of the logs. */
function describe(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return message.split(', command was:')[0]?.slice(0, 300) ?? message;
}

/**
 * The shared cache: Redis over HTTP through @upstash/redis (Upstash, or serverless-redis-http in the cluster),
 * so a function that scales from zero opens no connection pool. Every operation is bounded by `timeoutMs`;
 * reads and writes that fail or time out fall through (undefined / nothing), counters throw
 * CacheUnavailableError. The client module is imported on first use, so a cold start that never touches the
 * cache never loads it.
 */
export class UpstashCache implements Cache {
  readonly kind = 'upstash' as const;
  private client: Promise<Redis> | undefined;
  private failing = false;

  constructor(private readonly options: UpstashCacheOptions) {}

  private redis(): Promise<Redis> {
    const { url, token, timeoutMs } = this.options;
    this.client ??= import('@upstash/redis').then(
      ({ Redis }) =>
        new Redis({
          url,
          token,
          // One attempt: the client's own retries (5, with backoff) would outlive the deadline many times over.
          retry: { retries: 0, backoff: () => 0 },
          // A fresh deadline per HTTP request; a function (not one signal) also makes an abort throw rather
          // than come back as a fake "Aborted" result.
          signal: () => AbortSignal.timeout(timeoutMs),
          // Values are JSON text that this class parses itself, so a bad entry is a miss, not an exception.
          automaticDeserialization: false,
          enableTelemetry: false,
          enableAutoPipelining: false,
        }),
    );
    return this.client;
  }

  private count(operation: CacheOperation, result: CacheResult): void {
    countCacheOperation(this.options.functionName, operation, result);
  }

  /** One operation within the deadline; counts its result and throws CacheUnavailableError on failure. */
  private async run<T>(
    operation: CacheOperation,
    work: (redis: Redis) => Promise<T>,
    result: (value: T) => CacheResult = () => 'ok',
  ): Promise<T> {
    const { timeoutMs } = this.options;
    let timer: NodeJS.Timeout | undefined;
    try {
      // The deadline starts once the client module is loaded: compiling it is this process's own work, done
      // once, and must not make a cold instance's first login look like a cache outage.
      const redis = await this.redis();
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new CacheTimeoutError(timeoutMs)), timeoutMs);
      });
      const value = await Promise.race([work(redis), deadline]);
      this.count(operation, result(value));
      this.answered();
      return value;
    } catch (error) {
      this.count(operation, isTimeout(error) ? 'timeout' : 'error');
      this.failed(operation, error);
      throw new CacheUnavailableError(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One log line when the cache stops answering and one when it is back, not one per request. */
  private failed(operation: CacheOperation, error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.options.log?.warn(
      { operation, error: describe(error) },
      'cache unavailable: requests skip it, login is refused until it answers',
    );
  }

  private answered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.log?.info('cache answering again');
  }

  async get<T>(key: string): Promise<T | undefined> {
    try {
      const text = await this.run(
        'get',
        (redis) => redis.get<string>(key),
        (raw) => (raw === null ? 'miss' : 'hit'),
      );
      return text === null ? undefined : (JSON.parse(text) as T);
    } catch {
      return undefined;
    }
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    const text = JSON.stringify(value);
    const ex = Math.max(1, Math.ceil(ttlSeconds));
    await this.run('set', (redis) => redis.set(key, text, { ex })).catch(() => undefined);
  }

  async delete(...keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run('delete', (redis) => redis.del(...keys)).catch(() => undefined);
  }

  async increment(key: string, windowSeconds: number): Promise<CounterState> {
    const window = Math.max(1, Math.ceil(windowSeconds));
    // One transaction: the first increment starts the window (EXPIRE NX leaves a running window alone), and
    // no instance can ever see a counter that has no expiry.
    const [count, , ttl] = await this.run('increment', (redis) =>
      redis.multi().incr(key).expire(key, window, 'NX').ttl(key).exec<[number, number, number]>(),
    );
    return { count: Number(count), ttlSeconds: ttl > 0 ? ttl : window };
  }

  async peekCounter(key: string): Promise<CounterState> {
    const [raw, ttl] = await this.run('peek', (redis) =>
      redis.multi().get(key).ttl(key).exec<[string | null, number]>(),
    );
    const count = raw === null ? 0 : Number(raw);
    return { count: Number.isFinite(count) ? count : 0, ttlSeconds: Math.max(ttl, 0) };
  }

  async ping(): Promise<'ok' | 'down'> {
    try {
      await this.run('ping', (redis) => redis.ping());
      return 'ok';
    } catch {
      return 'down';
    }
  }

  async close(): Promise<void> {
    // Nothing to release: requests are plain fetch() calls on Node's shared keep-alive pool.
  }
}
