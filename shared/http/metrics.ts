import { counter, histogram } from '../telemetry/metrics.ts';

/** The HTTP layer's metrics, defined once: the plugins that count them import them from here. */

export const requestsTotal = counter<'function' | 'method' | 'route' | 'status'>(
  'http_requests_total',
  'HTTP requests answered, by function, method, route template and status.',
);

export const requestDuration = histogram<'function' | 'method' | 'route' | 'status'>(
  'http_request_duration_seconds',
  'Time to answer an HTTP request, by function, method, route template and status.',
  [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
);

export const requestsShed = counter<'function' | 'reason'>(
  'http_requests_shed_total',
  'Requests refused with a 503 because the process or its database pool was saturated.',
);

export const databaseUnavailable = counter<'function'>(
  'db_unavailable_total',
  'Requests answered 503 because the database could not be reached, by function.',
);

export const coldStarts = counter<'function'>(
  'function_cold_starts_total',
  'Processes started for a function (each instance counts 1): its cold starts.',
);
