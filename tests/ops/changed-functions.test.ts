import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionNames } from '../../esbuild.config.mjs';
import { changedFunctions, listFunctions } from '../../tools/changed-functions.mjs';

const all = ['auth', 'docs', 'health', 'items', 'users'];

describe('changedFunctions', () => {
  it('rebuilds only the function whose folder changed', () => {
    expect(changedFunctions(['functions/items/routes.ts', 'functions/items/index.ts'], all)).toEqual({
      functions: ['items'],
      deploy: true,
    });
    expect(changedFunctions(['functions/users/routes.ts', 'functions/auth/index.ts'], all).functions).toEqual(
      ['auth', 'users'],
    );
  });

  it.each([
    'shared/db/index.ts',
    'migrations/0002_events.ts',
    'package-lock.json',
    'package.json',
    'esbuild.config.mjs',
    'knative/Dockerfile',
    'tools/migrate.ts',
  ])('rebuilds every function when %s changes', (path) => {
    expect(changedFunctions(['README.md', path], all)).toEqual({ functions: all, deploy: true });
  });

  it('rebuilds nothing for documentation, tests or CI changes', () => {
    expect(
      changedFunctions(
        ['README.md', 'tests/api/errors.test.ts', '.github/workflows/ci.yml', 'renovate.json'],
        all,
      ),
    ).toEqual({ functions: [], deploy: false });
  });

  it('redeploys without rebuilding when only the Kubernetes manifests change', () => {
    expect(changedFunctions(['knative/overlays/prod/kustomization.yaml'], all)).toEqual({
      functions: [],
      deploy: true,
    });
  });

  it('ignores a deleted function and paths that only look like a function', () => {
    expect(
      changedFunctions(['functions/old/routes.ts', 'functions/README.md', 'shared-notes.md'], all),
    ).toEqual({
      functions: [],
      deploy: false,
    });
  });

  it('finds the same functions as the build', () => {
    expect(listFunctions()).toEqual(functionNames);
  });
});

describe('node tools/changed-functions.mjs in a git repository', () => {
  const script = resolve('tools/changed-functions.mjs');
  let repo: string;
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@t',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@t',
      },
    }).trim();
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  };
  const commit = (message: string) => {
    git('add', '-A');
    git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD');
  };
  const run = (...args: string[]) =>
    execFileSync(process.execPath, [script, ...args], {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  let base: string;
  beforeAll(() => {
    repo = mkdtempSync(join(tmpdir(), 'fs-changed-'));
    git('init', '-q', '-b', 'main');
    for (const name of ['auth', 'items', 'users']) write(`functions/${name}/index.ts`, 'export {};\n');
    write('shared/config.ts', 'export {};\n');
    base = commit('base');
  });
  afterAll(() => rmSync(repo, { recursive: true, force: true }));

  it('prints the changed functions in the form GitHub Actions reads', () => {
    git('checkout', '-q', '-b', 'feature', base);
    write('functions/items/routes.ts', 'export {};\n');
    const head = commit('items route');
    expect(run(base, head)).toBe('functions=["items"]\ndeploy=true\n');
  });

  it('does not count what the base branch did after the branch point', () => {
    git('checkout', '-q', 'main');
    write('functions/auth/login.ts', 'export {};\n');
    const mainHead = commit('auth on main');
    git('checkout', '-q', 'feature');
    expect(run(mainHead, 'HEAD')).toBe('functions=["items"]\ndeploy=true\n');
  });

  it('takes every function for a shared change, --all, or a base it cannot use', () => {
    write('shared/config.ts', 'export const x = 1;\n');
    commit('shared change');
    const every = 'functions=["auth","items","users"]\ndeploy=true\n';
    expect(run(base, 'HEAD')).toBe(every);
    expect(run('--all')).toBe(every);
    expect(run('0000000000000000000000000000000000000000', 'HEAD')).toBe(every);
    expect(run('1234567890abcdef1234567890abcdef12345678', 'HEAD')).toBe(every);
  });
});
