import { counter, gauge, histogram } from './metrics.ts';

/** What the HTTP layer counts (shared/http); the alert rules in knative/monitoring read these names. */

const REQUEST_LABELS = ['function', 'method', 'route', 'status'] as const;

export const requestsTotal = counter(
  'http_requests_total',
  'HTTP requests answered, by function, method, route template and status.',
  REQUEST_LABELS,
);

export const requestDuration = histogram(
  'http_request_duration_seconds',
  'Time to answer an HTTP request, by function, method, route template and status.',
  REQUEST_LABELS,
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);

export const requestsShed = counter(
  'http_requests_shed_total',
  'Requests refused with a 503 because the process or its database pool was saturated.',
  ['function', 'reason'],
);

export const coldStarts = counter(
  'function_cold_starts_total',
  'Processes started for a function (each instance counts 1): its cold starts.',
  ['function'],
);

export const databaseUnavailable = counter(
  'db_unavailable_total',
  'Requests answered 503 because the database could not be reached, by function.',
  ['function'],
);

interface PoolCounts {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/** Each function's pool, if it made one, read on each scrape. */
const pools = new Map<string, () => PoolCounts | undefined>();

gauge('db_pool_connections', 'Database pool connections by state.', ['function', 'state'], (g) => {
  for (const [name, poolOf] of pools) {
    const pool = poolOf();
    g.set({ function: name, state: 'total' }, pool?.totalCount ?? 0);
    g.set({ function: name, state: 'idle' }, pool?.idleCount ?? 0);
    g.set({ function: name, state: 'waiting' }, pool?.waitingCount ?? 0);
  }
});

/** Reports a function's pool in db_pool_connections (the latest app built for that function, if several). */
export function watchPool(functionName: string, poolOf: () => PoolCounts | undefined): void {
  pools.set(functionName, poolOf);
}
