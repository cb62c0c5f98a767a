import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeErrors, schemaValidator } from '../support/schemas.ts';

// The pipeline cannot run here, so everything a runner would reject before doing any work is checked instead:
// the schema, action pins, reusable-workflow calls, job outputs, and the shell of every step.

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  uses?: string;
  with?: Record<string, unknown>;
  needs?: string | string[];
  outputs?: Record<string, string>;
  steps?: Step[];
  services?: Record<string, { image: string; ports?: string[] }>;
  env?: Record<string, string>;
  environment?: string | { name: string };
  strategy?: { matrix?: Record<string, unknown> };
  secrets?: unknown;
}
interface WorkflowCall {
  inputs?: Record<string, { required?: boolean; default?: unknown }>;
  outputs?: Record<string, { value: string }>;
}
interface Workflow {
  on: Record<string, unknown> & { workflow_call?: WorkflowCall | null };
  jobs: Record<string, Job>;
}

const dir = '.github/workflows';
const files = readdirSync(dir).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));
const workflows = new Map<string, Workflow>(files.map((f) => [f, parse(readFileSync(join(dir, f), 'utf8'))]));
const workflow = (file: string) => {
  const w = workflows.get(file);
  if (!w) throw new Error(`${dir}/${file} is missing`);
  return w;
};
const needsOf = (job: Job) => (job.needs === undefined ? [] : ([] as string[]).concat(job.needs));
const allSteps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps ?? []);
/** A GitHub expression as the YAML writes it. */
const expr = (inner: string) => `\${{ ${inner} }}`;
const runText = (w: Workflow) =>
  allSteps(w)
    .map((s) => s.run ?? '')
    .join('\n');

describe.each(files)('%s', (file) => {
  const w = workflow(file);

  it('is a valid GitHub Actions workflow', () => {
    const validate = schemaValidator('github-workflow.schema.json');
    const valid = validate(w);
    expect(describeErrors(validate.errors), 'schema errors').toEqual([]);
    expect(valid).toBe(true);
  });

  it('pins every action to a release tag or a commit', () => {
    const uses = [...Object.values(w.jobs).map((j) => j.uses), ...allSteps(w).map((s) => s.uses)].filter(
      (u): u is string => u !== undefined && !u.startsWith('./'),
    );
    for (const ref of uses) expect(ref, ref).toMatch(/^[\w.-]+\/[\w./-]+@(v?\d+(\.\d+){0,2}|[0-9a-f]{40})$/);
  });

  it('calls local workflows that exist, with the inputs they declare', () => {
    for (const [name, job] of Object.entries(w.jobs)) {
      if (!job.uses?.startsWith('./')) continue;
      const called = workflow(job.uses.replace('./.github/workflows/', ''));
      const declared = called.on.workflow_call?.inputs ?? {};
      const given = Object.keys(job.with ?? {});
      expect(
        given.filter((k) => !(k in declared)),
        `${name}: unknown inputs`,
      ).toEqual([]);
      const required = Object.entries(declared).filter(([, i]) => i.required && i.default === undefined);
      expect(
        required.map(([k]) => k).filter((k) => !given.includes(k)),
        `${name}: missing inputs`,
      ).toEqual([]);
    }
  });

  it('reads only outputs that the jobs it needs declare', () => {
    for (const [name, job] of Object.entries(w.jobs)) {
      const text = JSON.stringify(job);
      for (const [, needed, output] of text.matchAll(/needs\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        expect(needsOf(job), `${name} reads ${needed} without needing it`).toContain(needed);
        const source = w.jobs[needed!]!;
        const outputs = source.uses?.startsWith('./')
          ? workflow(source.uses.replace('./.github/workflows/', '')).on.workflow_call?.outputs
          : source.outputs;
        expect(Object.keys(outputs ?? {}), `${name} reads ${needed}.outputs.${output}`).toContain(output);
      }
      for (const needed of needsOf(job))
        expect(Object.keys(w.jobs), `${name} needs ${needed}`).toContain(needed);
    }
  });

  it('has shell steps that bash can parse', () => {
    for (const step of allSteps(w)) {
      if (!step.run) continue;
      // Expressions are substituted before the shell sees the script.
      const script = step.run.replace(/\$\{\{[^}]*\}\}/g, 'EXPR');
      const result = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
      expect(result.stderr, step.run).toBe('');
      expect(result.status).toBe(0);
    }
  });
});

describe('the pipeline', () => {
  it('tests pull requests and main with PostgreSQL 15 and Redis 7, and publishes the report', () => {
    const ci = workflow('ci.yml');
    const cd = workflow('cd.yml');
    expect(Object.keys(ci.on)).toContain('pull_request');
    expect(cd.on.push).toEqual({ branches: ['main'] });
    for (const w of [ci, cd]) expect(w.jobs.test?.uses).toBe('./.github/workflows/test.yml');

    const test = workflow('test.yml').jobs.test!;
    expect(test.services?.postgres?.image).toBe('postgres:15');
    expect(test.services?.redis?.image).toBe('redis:7');
    expect(test.env?.DATABASE_URL).toMatch(/^postgresql:\/\/postgres:[^@]+@localhost:5432\//);
    const commands = test.steps!.map((s) => s.run ?? '');
    for (const command of ['npm ci', 'npx tsc --noEmit', 'npx biome ci', 'npx vitest run', 'apt-get install'])
      expect(
        commands.some((c) => c.includes(command)),
        command,
      ).toBe(true);
    const junit = commands.find((c) => c.includes('vitest run'))!.match(/--outputFile\.junit=(\S+)/)?.[1];
    expect(junit).toBeDefined();
    const reporter = test.steps!.find((s) => s.uses?.startsWith('dorny/test-reporter@'));
    expect(reporter?.with?.path).toBe(junit);
  });

  it('audits the dependencies and builds every function on pull requests', () => {
    const ci = workflow('ci.yml');
    expect(runText(ci)).toContain('npm audit --audit-level=high');
    expect(runText(ci)).toContain('npm run build');
  });

  it('builds and scans one image per changed function from knative/Dockerfile', () => {
    const ci = workflow('ci.yml');
    expect(ci.jobs.image?.uses).toBe('./.github/workflows/image.yml');
    expect(ci.jobs.image?.with?.functions).toBe(expr('needs.changes.outputs.functions'));
    expect(runText(ci)).toContain('node tools/changed-functions.mjs');

    const image = workflow('image.yml').jobs.image!;
    expect(image.strategy?.matrix?.function).toBe(expr('fromJSON(inputs.functions)'));
    const build = image.steps!.find((s) => s.uses?.startsWith('docker/build-push-action@'));
    expect(build?.with).toMatchObject({
      file: 'knative/Dockerfile',
      'build-args': `FUNCTION=${expr('matrix.function')}`,
    });
    const trivy = image.steps!.find((s) => s.uses?.startsWith('aquasecurity/trivy-action@'));
    expect(trivy?.with).toMatchObject({ format: 'sarif', 'exit-code': '1' });
    expect(image.steps!.some((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'))).toBe(true);
    // The registry credential appears only after the scan.
    const login = image.steps!.findIndex((s) => s.uses?.startsWith('docker/login-action@'));
    expect(login).toBeGreaterThan(image.steps!.indexOf(trivy!));
  });

  it('pushes by digest and promotes the same digests dev → staging → production behind environments', () => {
    const cd = workflow('cd.yml');
    expect(cd.jobs.publish?.with).toMatchObject({ push: true });
    const deploys = ['deploy-dev', 'deploy-staging', 'deploy-production'].map((n) => cd.jobs[n]!);
    for (const job of deploys) expect(job.uses).toBe('./.github/workflows/deploy.yml');
    expect(deploys.map((j) => j.with?.environment)).toEqual(['dev', 'staging', 'production']);
    expect(deploys[0]!.with?.overlay).toBe('dev');
    expect(needsOf(deploys[1]!)).toContain('deploy-dev');
    expect(needsOf(deploys[2]!)).toContain('deploy-staging');
    // Staging and production get what dev was given and runs, not a rebuild.
    expect(deploys[1]!.with?.images).toBe(expr('needs.deploy-dev.outputs.images'));
    expect(deploys[2]!.with?.images).toBe(expr('needs.deploy-dev.outputs.images'));

    const deploy = workflow('deploy.yml').jobs.deploy!;
    expect(deploy.environment).toMatchObject({ name: expr('inputs.environment') });
    const script = deploy.steps!.map((s) => s.run ?? '').join('\n');
    expect(script).toContain('kustomize edit set image');
    expect(script).toContain('@sha256:');
    expect(script).toContain('kubectl kustomize "$OVERLAY_DIR"');
    expect(runText(workflow('image.yml'))).toContain('docker push');
  });

  it('deploys overlays that are in the repository once knative/ exists', () => {
    const overlays = Object.values(workflow('cd.yml').jobs)
      .map((j) => j.with?.overlay)
      .filter((o): o is string => typeof o === 'string');
    expect(new Set(overlays)).toEqual(new Set(['dev', 'prod']));
    if (existsSync('knative/overlays'))
      for (const overlay of overlays)
        expect(existsSync(join('knative/overlays', overlay)), overlay).toBe(true);
  });
});
