import { countCacheOperation } from './metrics.ts';
import type { Cache, CounterState } from './types.ts';

interface Entry {
  /** JSON text for values (the same round trip as the shared cache), a number for counters. */
  value: string | number;
  expiresAt: number;
}

/** The in-process cache used when no Upstash endpoint is configured: per process, bounded in size. */
export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();

  private readonly functionName: string;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: { functionName?: string; maxEntries?: number; now?: () => number } = {}) {
    this.functionName = options.functionName ?? 'unknown';
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private put(key: string, value: string | number, ttlSeconds: number): Entry {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order, so the first key is the oldest write.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    const entry = { value, expiresAt: this.now() + ttlSeconds * 1000 };
    this.entries.set(key, entry);
    return entry;
  }

  private secondsLeft(entry: Entry): number {
    return Math.max(1, Math.ceil((entry.expiresAt - this.now()) / 1000));
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.live(key);
    countCacheOperation(this.functionName, 'get', typeof entry?.value === 'string' ? 'hit' : 'miss');
    return typeof entry?.value === 'string' ? (JSON.parse(entry.value) as T) : undefined;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.put(key, JSON.stringify(value), ttlSeconds);
    countCacheOperation(this.functionName, 'set', 'ok');
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
    countCacheOperation(this.functionName, 'delete', 'ok');
  }

  async increment(key: string, windowSeconds: number): Promise<CounterState> {
    countCacheOperation(this.functionName, 'increment', 'ok');
    const entry = this.live(key);
    if (typeof entry?.value === 'number') {
      entry.value += 1;
      return { count: entry.value, ttlSeconds: this.secondsLeft(entry) };
    }
    this.put(key, 1, windowSeconds);
    return { count: 1, ttlSeconds: windowSeconds };
  }

  async peekCounter(key: string): Promise<CounterState> {
    countCacheOperation(this.functionName, 'peek', 'ok');
    const entry = this.live(key);
    if (typeof entry?.value !== 'number') return { count: 0, ttlSeconds: 0 };
    return { count: entry.value, ttlSeconds: this.secondsLeft(entry) };
  }

  async ping(): Promise<'ok'> {
    return 'ok';
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
