import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, register } from 'prom-client';

/**
 * Metrics are prom-client's, in its default registry: Node.js's and the process's default metrics (what Node.js
 * dashboards read) beside ours. A metric is declared where it is counted, with its label names; declaring one
 * again (another app in the same process, as tests and the local server make) returns the first.
 */

collectDefaultMetrics();

function existing<M extends Metric>(name: string): M | undefined {
  return register.getSingleMetric(name) as M | undefined;
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return existing<Counter<L>>(name) ?? new Counter({ name, help, labelNames });
}

/** `collect` runs on every scrape, to set the gauge from what it watches. */
export function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  collect?: (gauge: Gauge<L>) => void,
): Gauge<L> {
  return (
    existing<Gauge<L>>(name) ??
    new Gauge({
      name,
      help,
      labelNames,
      ...(collect && {
        collect(this: Gauge<L>) {
          collect(this);
        },
      }),
    })
  );
}

export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: number[],
): Histogram<L> {
  return existing<Histogram<L>>(name) ?? new Histogram({ name, help, labelNames, buckets });
}

export const PROMETHEUS_CONTENT_TYPE = register.contentType;

/** Every metric of the process in the Prometheus text format. */
export function renderMetrics(): Promise<string> {
  return register.metrics();
}
