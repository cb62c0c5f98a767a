/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format. Written here rather than pulled from prom-client because every function loads it at start, and a
 * cold start pays for every module it compiles.
 */

type Labels = Record<string, string | number>;

interface Metric {
  render(): string;
}

const registry = new Map<string, Metric>();

function escapeLabel(value: string | number): string {
  return String(value).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] as string | number)}"`).join(',')}}`;
}

/**
 * Identifies a series whatever order its labels were given in. Runs several times per request (requests, their
 * durations, every cache call), so it builds one string rather than sorting and serializing entry pairs.
 */
function key(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let id = '';
  // \u0001 and \u0002 occur in no label name nor in the values used here (names, methods, route templates).
  for (const name of names) id += `${name}\u0001${labels[name]}\u0002`;
  return id;
}

function header(name: string, help: string, type: string): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

export class Counter<L extends string = string> implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  inc(labels: Partial<Record<L, string | number>> = {}, by = 1): void {
    const id = key(labels as Labels);
    const entry = this.values.get(id);
    if (entry) entry.value += by;
    else this.values.set(id, { labels: labels as Labels, value: by });
  }

  get(labels: Partial<Record<L, string | number>> = {}): number {
    return this.values.get(key(labels as Labels))?.value ?? 0;
  }

  render(): string {
    let out = header(this.name, this.help, 'counter');
    for (const { labels, value } of this.values.values())
      out += `${this.name}${labelText(labels)} ${value}\n`;
    return out;
  }
}

export class Gauge<L extends string = string> implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly collect?: (gauge: Gauge<L>) => void,
  ) {}

  set(labels: Partial<Record<L, string | number>>, value: number): void {
    this.values.set(key(labels as Labels), { labels: labels as Labels, value });
  }

  render(): string {
    this.collect?.(this);
    let out = header(this.name, this.help, 'gauge');
    for (const { labels, value } of this.values.values())
      out += `${this.name}${labelText(labels)} ${value}\n`;
    return out;
  }
}

export class Histogram<L extends string = string> implements Metric {
  private readonly series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}

  observe(labels: Partial<Record<L, string | number>>, value: number): void {
    const id = key(labels as Labels);
    let entry = this.series.get(id);
    if (!entry) {
      entry = { labels: labels as Labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(id, entry);
    }
    for (let i = 0; i < this.buckets.length; i++)
      if (value <= (this.buckets[i] as number)) entry.counts[i]! += 1;
    entry.sum += value;
    entry.count += 1;
  }

  render(): string {
    let out = header(this.name, this.help, 'histogram');
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, i) => {
        out += `${this.name}_bucket${labelText({ ...labels, le: bound })} ${counts[i]}\n`;
      });
      out += `${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}\n`;
      out += `${this.name}_sum${labelText(labels)} ${sum}\n`;
      out += `${this.name}_count${labelText(labels)} ${count}\n`;
    }
    return out;
  }
}

function register<M extends Metric & { name: string }>(metric: M): M {
  const existing = registry.get(metric.name);
  if (existing) return existing as M;
  registry.set(metric.name, metric);
  return metric;
}

export const counter = <L extends string>(name: string, help: string) => register(new Counter<L>(name, help));
export const gauge = <L extends string>(name: string, help: string, collect?: (g: Gauge<L>) => void) =>
  register(new Gauge<L>(name, help, collect));
export const histogram = <L extends string>(name: string, help: string, buckets: number[]) =>
  register(new Histogram<L>(name, help, buckets));

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderMetrics(): string {
  let out = '';
  for (const metric of registry.values()) out += metric.render();
  return out;
}

// Process metrics, as the standard client libraries name them.
const startedAt = Date.now() / 1000 - process.uptime();
gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', (g) =>
  g.set({}, Math.round(startedAt)),
);
gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', (g) =>
  g.set({}, process.memoryUsage.rss()),
);
gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.', (g) =>
  g.set({}, process.memoryUsage().heapUsed),
);
gauge('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', (g) => {
  const usage = process.cpuUsage();
  g.set({}, (usage.user + usage.system) / 1e6);
});
