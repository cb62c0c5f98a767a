import type { Counter } from 'prom-client';

/** A counter's current value for exactly these labels (0 before the first count). */
export async function counted<L extends string>(
  metric: Counter<L>,
  labels: Record<L, string>,
): Promise<number> {
  const { values } = await metric.get();
  const keys = Object.keys(labels) as L[];
  const found = values.find(
    (value) =>
      Object.keys(value.labels).length === keys.length &&
      keys.every((key) => String(value.labels[key]) === labels[key]),
  );
  return found?.value ?? 0;
}
