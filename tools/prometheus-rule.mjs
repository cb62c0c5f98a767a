// knative/monitoring/prometheusrule.yaml is generated from knative/monitoring/rules.yaml (the one source of
// the alert rules): the same groups, wrapped in a Prometheus Operator PrometheusRule.
//
//   node tools/prometheus-rule.mjs           rewrite prometheusrule.yaml
//   node tools/prometheus-rule.mjs --check   exit 1 when it is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const monitoring = join(dirname(dirname(fileURLToPath(import.meta.url))), 'knative', 'monitoring');
export const RULES_FILE = join(monitoring, 'rules.yaml');
export const PROMETHEUS_RULE_FILE = join(monitoring, 'prometheusrule.yaml');

const HEADER = `# GENERATED from rules.yaml by \`node tools/prometheus-rule.mjs\`: edit rules.yaml, then run it.
# The Prometheus Operator loads this resource when its ruleSelector matches these labels.
`;

/** The PrometheusRule manifest (YAML text) for the rules file's text. */
export function renderPrometheusRule(rulesText) {
  const { groups } = parse(rulesText);
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'function-set-alerts',
      labels: {
        'app.kubernetes.io/part-of': 'function-set',
        'app.kubernetes.io/component': 'monitoring',
      },
    },
    spec: { groups },
  };
  return HEADER + stringify(resource, { lineWidth: 0 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const expected = renderPrometheusRule(readFileSync(RULES_FILE, 'utf8'));
  if (process.argv.includes('--check')) {
    if (readFileSync(PROMETHEUS_RULE_FILE, 'utf8') !== expected) {
      process.stderr.write('prometheusrule.yaml is out of date: run node tools/prometheus-rule.mjs\n');
      process.exit(1);
    }
  } else {
    writeFileSync(PROMETHEUS_RULE_FILE, expected);
  }
}
