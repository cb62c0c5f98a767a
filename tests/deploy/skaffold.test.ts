import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTRACT_FUNCTIONS, functionFolders } from './support/functions.ts';
import { parseYamlDocuments, repoRoot, schemaErrors } from './support/manifests.ts';

interface SkaffoldConfig {
  metadata: { name: string };
  requires?: { configs: string[] }[];
  build: {
    artifacts: {
      image: string;
      context: string;
      custom: { buildCommand: string; dependencies: { paths: string[] } };
    }[];
  };
  manifests: { kustomize: { paths: string[] } };
  profiles?: { name: string; manifests: { kustomize: { paths: string[] } } }[];
}

const configs = parseYamlDocuments(
  readFileSync(resolve(repoRoot, 'skaffold.yaml'), 'utf8'),
) as SkaffoldConfig[];
const byName = new Map(configs.map((c) => [c.metadata.name, c]));

/** Skaffold's dependency globs, as far as these use them: "dir/**" or an exact file. */
const covers = (patterns: string[], file: string) =>
  patterns.some((p) => (p.endsWith('/**') ? file.startsWith(p.slice(0, -2)) : file === p));

describe('skaffold.yaml', () => {
  it.each(configs.map((c) => [c.metadata.name, c] as const))(
    'config %s validates against skaffold/v4beta14',
    (_, config) => {
      expect(schemaErrors('skaffold-v4beta14.json', config)).toEqual([]);
    },
  );

  it('runs the migration config before the functions', () => {
    expect(configs.map((c) => c.metadata.name)).toEqual(['migrate', 'functions']);
    expect(byName.get('functions')?.requires).toEqual([{ configs: ['migrate'] }]);
  });

  it('builds one artifact per function, plus migrate', () => {
    const images = byName.get('functions')!.build.artifacts.map((a) => a.image);
    expect(images.sort()).toEqual([...new Set([...CONTRACT_FUNCTIONS, ...functionFolders()])].sort());
    expect(byName.get('migrate')!.build.artifacts.map((a) => a.image)).toEqual(['migrate']);
  });

  it('rebuilds only the function whose files changed (docs describes them all, so it follows every one)', () => {
    const artifacts = byName.get('functions')!.build.artifacts;
    for (const artifact of artifacts) {
      const paths = artifact.custom.dependencies.paths;
      expect(artifact.custom.buildCommand).toBe(`sh knative/build-image.sh ${artifact.image}`);
      expect(covers(paths, `functions/${artifact.image}/routes.ts`)).toBe(true);
      expect(covers(paths, 'shared/http/app.ts')).toBe(true);
      expect(covers(paths, 'package-lock.json')).toBe(true);
      for (const other of artifacts.filter((a) => a.image !== artifact.image)) {
        expect(
          covers(paths, `functions/${other.image}/routes.ts`),
          `${artifact.image} <- ${other.image}`,
        ).toBe(artifact.image === 'docs');
      }
      expect(covers(paths, 'tests/deploy/routes.test.ts')).toBe(false);
    }
    const migrate = byName.get('migrate')!.build.artifacts[0]!.custom.dependencies.paths;
    expect(covers(migrate, 'migrations/index.ts') && covers(migrate, 'tools/migrate.ts')).toBe(true);
    expect(covers(migrate, 'functions/items/routes.ts')).toBe(false);
  });

  it('deploys the dev overlay by default and the prod overlay with -p prod, each kustomization existing', () => {
    expect(byName.get('functions')!.manifests.kustomize.paths).toEqual(['knative/overlays/dev']);
    expect(byName.get('migrate')!.manifests.kustomize.paths).toEqual(['knative/overlays/dev/migrate']);
    for (const config of configs) {
      const prod = config.profiles?.find((p) => p.name === 'prod');
      expect(prod?.manifests.kustomize.paths[0]).toMatch(/^knative\/overlays\/prod/);
      for (const path of [...config.manifests.kustomize.paths, ...(prod?.manifests.kustomize.paths ?? [])]) {
        expect(existsSync(resolve(repoRoot, path, 'kustomization.yaml')), path).toBe(true);
      }
    }
  });
});
