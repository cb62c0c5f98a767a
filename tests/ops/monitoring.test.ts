import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROMETHEUS_RULE_FILE, RULES_FILE, renderPrometheusRule } from '../../tools/prometheus-rule.mjs';
import { describeErrors, schemaValidator } from '../support/schemas.ts';

const dir = 'knative/monitoring';
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertTest {
  alertname: string;
  exp_alerts?: unknown[];
}

const load = (file: string) => parse(readFileSync(`${dir}/${file}`, 'utf8'));
const rules: { groups: { name: string; rules: Rule[] }[] } = load('rules.yaml');
const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert);

/**
 * CI (CI=true; .ci/run installs Debian's prometheus package) must run these: there a missing promtool fails.
 * On a laptop without it they are reported as skipped, with the reason in their name.
 */
const havePromtool = existsSync(PROMTOOL);
const promtoolSkipped = !havePromtool && process.env.CI !== 'true';
const promtoolReason = `promtool not found at ${PROMTOOL}: apt-get install prometheus (.ci/run does)`;

function promtool(...args: string[]) {
  if (!havePromtool) throw new Error(promtoolReason);
  return spawnSync(PROMTOOL, args, { encoding: 'utf8' });
}

describe('alert rules (knative/monitoring/rules.yaml)', () => {
  it.skipIf(promtoolSkipped)(
    `pass promtool check rules${promtoolSkipped ? ` (skipped: ${promtoolReason})` : ''}`,
    () => {
      const result = promtool('check', 'rules', `${dir}/rules.yaml`);
      expect(result.stdout + result.stderr).toContain(`SUCCESS: ${alerts.length} rules found`);
      expect(result.status).toBe(0);
    },
  );

  it.skipIf(promtoolSkipped)(
    `pass their unit tests (promtool test rules)${promtoolSkipped ? ` (skipped: ${promtoolReason})` : ''}`,
    () => {
      const result = promtool('test', 'rules', `${dir}/rules.test.yaml`);
      expect(result.stdout + result.stderr).toContain('SUCCESS');
      expect(result.status, result.stdout + result.stderr).toBe(0);
    },
  );

  it('cover the conditions the functions must be alerted on', () => {
    const uses = (alert: string, metric: string) =>
      expect(alerts.find((a) => a.alert === alert)?.expr, alert).toContain(metric);
    uses('FunctionHighErrorRate', 'http_requests_total{status=~"5.."}');
    uses('FunctionHighLatency', 'histogram_quantile(0.99');
    uses('FunctionHighLatency', 'http_request_duration_seconds_bucket');
    uses('FunctionDatabaseUnavailable', 'db_unavailable_total');
    uses('FunctionCacheDegraded', 'cache_operations_total{result=~"error|timeout"}');
    uses('FunctionEventBacklog', 'events_outbox_pending');
    uses('FunctionEventDeliveryFailing', 'events_delivery_attempts_total{result="failure"}');
    uses('FunctionColdStartSurge', 'function_cold_starts_total');
  });

  it.each(alerts.map((a) => [a.alert!, a] as const))(
    '%s is per function, with a severity and a summary',
    (_, rule) => {
      // Every aggregation keeps the function label, so one alert fires per function.
      const aggregations = [...rule.expr.matchAll(/\b(sum|max|min|avg|count)\s*(by\s*\(([^)]*)\))?\s*\(/g)];
      expect(aggregations.length).toBeGreaterThan(0);
      for (const [text, , , by] of aggregations)
        expect(
          by?.split(',').map((l) => l.trim()),
          text,
        ).toContain('function');
      expect(['critical', 'warning']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toContain('{{ $labels.function }}');
      expect(rule.annotations?.description).toBeTruthy();
    },
  );

  it('have a unit test where each alert fires and one where it does not', () => {
    const tests: { alert_rule_test?: AlertTest[] }[] = load('rules.test.yaml').tests;
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert} fires in a test`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert} stays quiet in a test`,
      ).toBe(true);
    }
  });
});

describe('Prometheus Operator manifests (knative/monitoring/)', () => {
  it('the PrometheusRule is generated from rules.yaml and embeds exactly its groups', () => {
    const text = readFileSync(PROMETHEUS_RULE_FILE, 'utf8');
    expect(text, 'run node tools/prometheus-rule.mjs').toBe(
      renderPrometheusRule(readFileSync(RULES_FILE, 'utf8')),
    );
    expect(parse(text).spec.groups).toEqual(rules.groups);
    expect(execFileSync(process.execPath, ['tools/prometheus-rule.mjs', '--check']).toString()).toBe('');
  });

  it.each([
    ['prometheusrule.yaml', 'prometheus-rule-v1.strict.schema.json'],
    ['podmonitor.yaml', 'prometheus-podmonitor-v1.strict.schema.json'],
  ])('%s is valid against %s', (file, schema) => {
    const validate = schemaValidator(schema);
    const valid = validate(load(file));
    expect(describeErrors(validate.errors)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the PodMonitor scrapes every Knative Service pod on its container port', () => {
    const { spec } = load('podmonitor.yaml');
    expect(spec.selector).toEqual({
      matchExpressions: [{ key: 'serving.knative.dev/service', operator: 'Exists' }],
    });
    expect(spec.podMetricsEndpoints).toHaveLength(1);
    expect(spec.podMetricsEndpoints[0]).toMatchObject({ port: 'user-port', path: '/metrics' });
  });

  it('the kustomization lists both manifests, which exist', () => {
    const { resources } = load('kustomization.yaml');
    expect(resources).toEqual(['podmonitor.yaml', 'prometheusrule.yaml']);
    for (const file of resources) expect(existsSync(`${dir}/${file}`), file).toBe(true);
  });
});
