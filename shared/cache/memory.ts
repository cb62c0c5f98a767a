import type { Cache } from './types.ts';

interface Entry {
  value: unknown;
  expiresAt: number;
}

/** The in-process cache used when no Upstash endpoint is configured: per process, bounded in size. */
export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private put(key: string, value: unknown, ttlSeconds: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order, so the first key is the oldest write.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, expiresAt: this.now() + ttlSeconds * 1000 });
  }

  async get<T>(key: string): Promise<T | undefined> {
    return this.live(key)?.value as T | undefined;
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.put(key, structuredClone(value), ttlSeconds);
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
  }

  async increment(key: string, windowSeconds: number): Promise<{ count: number; ttlSeconds: number }> {
    const entry = this.live(key);
    if (entry) {
      entry.value = (entry.value as number) + 1;
      return { count: entry.value as number, ttlSeconds: Math.ceil((entry.expiresAt - this.now()) / 1000) };
    }
    this.put(key, 1, windowSeconds);
    return { count: 1, ttlSeconds: windowSeconds };
  }

  async ping(): Promise<'ok'> {
    return 'ok';
  }

  async close(): Promise<void> {
    this.entries.clear();
  }
}
