import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasTool, inCI } from '../support/tools.ts';
import { runTool, schemaErrors } from './support/manifests.ts';
import {
  parseTerraform,
  renderTemplate,
  terraformDir,
  terraformFiles,
  variableDefaults,
} from './support/terraform.ts';

type Blocks = Record<string, Record<string, unknown>>;

/**
 * Every file's blocks together. `resource` and `data` are keyed by type then name, so they merge one level deeper
 * than variables and outputs.
 */
async function allBlocks(): Promise<Blocks> {
  const merged: Blocks = {};
  for (const file of terraformFiles()) {
    for (const [kind, entries] of Object.entries(await parseTerraform(file))) {
      const target = merged[kind] ?? {};
      merged[kind] = target;
      for (const [key, value] of Object.entries(entries as Record<string, unknown>)) {
        const nested = kind === 'resource' || kind === 'data';
        target[key] = nested ? { ...(target[key] as object), ...(value as object) } : value;
      }
    }
  }
  return merged;
}

describe('terraform/', () => {
  // Without the terraform binary (not CI) tests/deploy/tools.test.ts reports this as skipped.
  it.skipIf(!inCI && !hasTool('terraform'))('is formatted (terraform fmt -check)', () => {
    // Throws, naming the unformatted files, when terraform fmt would change anything.
    runTool('terraform', ['fmt', '-check', '-recursive', terraformDir]);
  });

  it.each(terraformFiles().map((f) => [f.slice(terraformDir.length + 1), f]))(
    '%s parses as HCL2',
    async (_, file) => {
      const parsed = await parseTerraform(file);
      expect(Object.keys(parsed).length).toBeGreaterThan(0);
    },
  );

  it('rejects a broken file (the parser is really checking)', async () => {
    const { parse } = await import('@cdktf/hcl2json');
    await expect(parse('broken.tf', 'resource "a" "b" {\n  x = \n}\n')).rejects.toThrow(/Invalid expression/);
  });

  it('documents every variable and output, and pins every provider', async () => {
    const blocks = await allBlocks();
    for (const [kind, entries] of [
      ['variable', blocks.variable],
      ['output', blocks.output],
    ] as const) {
      expect(Object.keys(entries ?? {}).length, kind).toBeGreaterThan(0);
      for (const [name, list] of Object.entries(entries ?? {})) {
        expect((list as { description?: string }[])[0]?.description, `${kind} ${name}`).toMatch(/\w{3}/);
      }
    }
    const terraform = blocks.terraform as unknown as {
      required_providers: Record<string, { version: string }>[];
    }[];
    const providers = terraform[0]?.required_providers[0] ?? {};
    expect(Object.keys(providers).sort()).toEqual(['helm', 'kubernetes', 'random', 'tls']);
    for (const provider of Object.values(providers)) expect(provider.version).toMatch(/\d/);
  });

  it('installs the whole platform', async () => {
    const resources = (await allBlocks()).resource as Record<string, Record<string, unknown>>;
    const charts = Object.values(resources.helm_release ?? {}).map(
      (r) => (r as { chart: string }[])[0]?.chart,
    );
    expect(charts.sort()).toEqual(
      ['base', 'cloudnative-pg', 'gateway', 'istiod', 'knative-operator', 'opentelemetry-collector'].sort(),
    );
    expect(Object.keys(resources.kubernetes_manifest ?? {}).sort()).toEqual(
      ['db_cluster', 'db_pooler', 'knative_eventing', 'knative_serving'].sort(),
    );
    expect(Object.keys(resources.kubernetes_deployment_v1 ?? {}).sort()).toEqual([
      'redis',
      'serverless_redis_http',
    ]);
  });

  it('renders a CloudNativePG Cluster (one primary, two replicas) and Pooler that pass their strict schemas', async () => {
    const defaults = await variableDefaults();
    const cluster = renderTemplate('cnpg-cluster.yaml.tftpl', {
      namespace: defaults.data_namespace,
      instances: defaults.postgres_instances,
      storage_size: defaults.postgres_storage_size,
      app_secret: 'function-set-db-app',
      statement_timeout: defaults.postgres_statement_timeout,
    }) as { spec: { instances: number } };
    expect(schemaErrors('cnpg-cluster-v1.strict.schema.json', cluster)).toEqual([]);
    expect(cluster.spec.instances).toBe(3);

    const pooler = renderTemplate('cnpg-pooler.yaml.tftpl', {
      namespace: defaults.data_namespace,
      instances: defaults.pgbouncer_instances,
      max_client_conn: defaults.pgbouncer_max_client_conn,
      default_pool_size: defaults.pgbouncer_default_pool_size,
    }) as { spec: { type: string; pgbouncer: { poolMode: string } } };
    expect(schemaErrors('cnpg-pooler-v1.strict.schema.json', pooler)).toEqual([]);
    expect(pooler.spec).toMatchObject({ type: 'rw', pgbouncer: { poolMode: 'transaction' } });
  });

  it('renders every template it ships', () => {
    const templates = readdirSync(resolve(terraformDir, 'manifests'));
    const vars = { namespace: 'ns', version: '1.16', instances: 2, storage_size: '1Gi', app_secret: 's' };
    for (const name of templates.filter((t) => t.startsWith('knative-'))) {
      expect(renderTemplate(name, vars)).toMatchObject({ apiVersion: 'operator.knative.dev/v1beta1' });
    }
  });
});
