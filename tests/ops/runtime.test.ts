import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// One Node.js version builds every V8 code cache and runs it: locally and in CI through package.json's `node`
// (npm scripts run node_modules/.bin first), in the workflows through .node-version, in the image through its
// build stage's binary. Each place says the version again, so this checks that they all say the same one.

const version = readFileSync('.node-version', 'utf8').trim();
const major = Number(version.split('.')[0]);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const dockerfile = readFileSync('knative/Dockerfile', 'utf8');

describe('the Node.js runtime', () => {
  it('is one exact release of an LTS line, Node.js 24 or later', () => {
    expect(version, '.node-version holds an exact version').toMatch(/^\d+\.\d+\.\d+$/);
    expect(major).toBeGreaterThanOrEqual(24);
    expect(major % 2, 'odd majors never become LTS').toBe(0);
  });

  it('is the binary these tests, and every npm script, run on', () => {
    expect(process.version).toBe(`v${version}`);
    expect(execFileSync(process.execPath, ['--version'], { encoding: 'utf8' }).trim()).toBe(`v${version}`);
  });

  it('is what package.json brings and package-lock.json locks, with engines and @types/node to match', () => {
    expect(pkg.devDependencies.node).toBe(version);
    expect(lock.packages['node_modules/node'].version).toBe(version);
    // Its install script fetches the platform's binary: without it npm ci leaves no node_modules/.bin/node.
    expect(pkg.allowScripts.node).toBe(true);
    expect(pkg.engines.node).toBe(`^${version}`);
    expect(pkg.devDependencies['@types/node']).toMatch(new RegExp(`^\\^${major}\\.`));
  });

  it('is what every workflow sets up, from .node-version', () => {
    const dir = '.github/workflows';
    const setups = readdirSync(dir)
      .filter((file) => /\.ya?ml$/.test(file))
      .flatMap((file) => {
        const jobs = Object.values(parse(readFileSync(join(dir, file), 'utf8')).jobs) as {
          steps?: { uses?: string; with?: Record<string, unknown> }[];
        }[];
        return jobs
          .flatMap((job) => job.steps ?? [])
          .filter((s) => s.uses?.startsWith('actions/setup-node@'));
      });
    expect(setups.length).toBeGreaterThan(0);
    for (const step of setups) {
      expect(step.with?.['node-version-file']).toBe('.node-version');
      expect(step.with?.['node-version']).toBeUndefined();
    }
  });

  it("is the image's build stage, whose binary the final stage runs, as user 65532 on distroless", () => {
    const stages = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gim)].map((m) => ({
      image: m[1],
      name: m[2],
    }));
    expect(stages).toHaveLength(2);
    expect(stages[0]).toEqual({ image: `node:${version}-bookworm-slim`, name: 'build' });
    expect(stages[1]?.image).toMatch(/^gcr\.io\/distroless\/[\w-]+:nonroot$/);
    const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(final).toMatch(/^COPY --from=build \/usr\/local\/bin\/node \/nodejs\/bin\/node$/m);
    expect(final).toMatch(/^ENTRYPOINT \["\/nodejs\/bin\/node"\]$/m);
    expect(final).toMatch(/^USER 65532:65532$/m);
    // The build fails if the tag ever gives another version than .node-version.
    expect(dockerfile).toContain('COPY package.json package-lock.json .node-version ./');
    expect(dockerfile).toContain('test "$(node --version)" = "v$(cat .node-version)"');
  });

  it('is the only Node.js version any file targets (bundles, images, Lambda)', () => {
    const files = execFileSync('git', ['ls-files'], { encoding: 'utf8' })
      .split('\n')
      .filter((file) => file && !file.startsWith('tests/schemas/') && file !== 'package-lock.json')
      .filter((file) => /\.(m?[jt]s|json|ya?ml|md|tf|tftpl|sh)$|Dockerfile$/.test(file));
    const targets = /\bnodejs(\d+)|\bnode:(\d+)|target: ['"]node(\d+)|node-version: ['"]?(\d+)/g;
    const others: string[] = [];
    for (const file of files) {
      for (const match of readFileSync(file, 'utf8').matchAll(targets)) {
        const named = Number(match.slice(1).find((group) => group !== undefined));
        if (named !== major) others.push(`${file}: ${match[0]}`);
      }
    }
    expect(others).toEqual([]);
    expect(readFileSync('README.md', 'utf8')).toContain(`\`nodejs${major}.x\``);
  });
});
