import * as v from 'valibot';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { serviceUnavailable } from '../../shared/http/errors.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../../shared/telemetry/metrics.ts';
import { checkCache, checkDatabase } from './checks.ts';

const Check = v.picklist(['ok', 'down', 'disabled']);
const HealthReport = v.object({
  status: v.picklist(['ok', 'degraded']),
  checks: v.object({ database: Check, cache: Check }),
});

const health = defineRoute({
  method: 'GET',
  url: '/api/health',
  operationId: 'health_check',
  summary: 'Readiness: the database and the cache',
  description:
    'Checks the database and the cache. 200 with "ok", or "degraded" when only the cache is down; 503 when the database cannot be reached.',
  tags: ['health'],
  responses: { 200: { description: 'The function can serve requests.', schema: HealthReport } },
  errors: [503],
  async handler({ ctx }) {
    const [database, cache] = await Promise.all([checkDatabase(ctx), checkCache(ctx)]);
    if (database !== 'ok') {
      throw serviceUnavailable('The database cannot be reached.', 5);
    }
    return { status: cache === 'down' ? 'degraded' : 'ok', checks: { database, cache } };
  },
});

const live = defineRoute({
  method: 'GET',
  url: '/api/health/live',
  operationId: 'health_live',
  summary: 'Liveness: the process answers',
  description: 'Touches no dependency; for liveness and readiness probes.',
  tags: ['health'],
  responses: { 200: { description: 'The process is up.', schema: v.object({ status: v.literal('ok') }) } },
  async handler() {
    return { status: 'ok' };
  },
});

const metrics = defineRoute({
  method: 'GET',
  url: '/api/metrics',
  operationId: 'health_metrics',
  summary: 'Prometheus metrics',
  description:
    'Prometheus text exposition of this process: requests, latency, pool, cache, events, cold starts, and the Node.js and process metrics of prom-client.',
  tags: ['health'],
  responses: {
    200: {
      description: 'Prometheus text format 0.0.4.',
      schema: v.string(),
      mediaTypes: ['text/plain; version=0.0.4'],
    },
  },
  async handler({ reply }) {
    return reply.type(PROMETHEUS_CONTENT_TYPE).send(await renderMetrics());
  },
});

export const definition: FunctionDefinition = {
  name: 'health',
  prefixes: ['/api/health', '/api/metrics'],
  routes: [health, live, metrics],
};
