/**
 * Traffic for the reliability tests: concurrent workers sending real HTTP requests, every outcome recorded
 * (status, problem+json or not, latency, transport error code) so a test can say exactly what clients saw.
 */

/**
 * Environment for a bundle under load from this one client address: the per-address rate limit, which would
 * answer 429 on a fast machine, is off (it has its own tests, tests/api/cache-*).
 */
export const ONE_CLIENT_LOAD_ENV = { RATE_LIMIT_PER_MINUTE: '0' };

export interface Outcome {
  /** HTTP status, or 0 when no response arrived (the transport error is in `error`). */
  status: number;
  ms: number;
  at: number;
  problemJson: boolean;
  retryAfter: string | null;
  body: unknown;
  error?: string;
}

/** fetch that never throws: a failed connection becomes an Outcome with its error code. */
export async function send(url: string, init: RequestInit = {}): Promise<Outcome> {
  const started = performance.now();
  const at = Date.now();
  try {
    const response = await fetch(url, init);
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text, and the test decides whether that is allowed
    }
    return {
      status: response.status,
      ms: performance.now() - started,
      at,
      problemJson: (response.headers.get('content-type') ?? '').startsWith('application/problem+json'),
      retryAfter: response.headers.get('retry-after'),
      body,
    };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      status: 0,
      ms: performance.now() - started,
      at,
      problemJson: false,
      retryAfter: null,
      body: undefined,
      error: cause?.code ?? cause?.message ?? String(error),
    };
  }
}

/** Runs `workers` loops of `step` until `stop()` resolves or `durationMs` passes; resolves when all have ended. */
export async function runWorkers(
  workers: number,
  step: (worker: number, iteration: number) => Promise<void>,
  until: { durationMs?: number; signal?: AbortSignal },
): Promise<void> {
  const end = until.durationMs ? Date.now() + until.durationMs : Number.POSITIVE_INFINITY;
  const running = () => Date.now() < end && !until.signal?.aborted;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      for (let i = 0; running(); i++) await step(worker, i);
    }),
  );
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Counts by status ("0:ECONNRESET" for transport errors), for assertion messages and printed figures. */
export function statusCounts(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of outcomes) {
    const key = o.status === 0 ? `0:${o.error}` : String(o.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** One line of figures, printed by each scenario and copied into tests/RELIABILITY.md. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  process.stdout.write(`[reliability] ${scenario}: ${JSON.stringify(figures)}\n`);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
