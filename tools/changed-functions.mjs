// Which functions a change touches, so CI/CD rebuilds and redeploys only those.
//
//   node tools/changed-functions.mjs <base> [head]   functions changed between two commits (head: HEAD)
//   node tools/changed-functions.mjs --all           every function
//
// Prints two lines in the `key=value` form GitHub Actions reads from $GITHUB_OUTPUT:
//   functions=["auth","users"]   the images to rebuild (a JSON array)
//   deploy=true                  whether anything deployable changed (images or the knative/ manifests)
//
// Only Node built-ins and git: the CI job that runs it has not installed node_modules.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Paths every bundle or image is made from: a change to one of them rebuilds every function. A path ending in
 * "/" is a folder.
 */
export const SHARED_PATHS = [
  'shared/',
  'migrations/',
  'tools/migrate.ts',
  'package.json',
  'package-lock.json',
  'esbuild.config.mjs',
  'tsconfig.json',
  'knative/Dockerfile',
  '.dockerignore',
];

/** Folders under functions/ with an index.ts, as esbuild.config.mjs finds them. */
export function listFunctions(dir = root) {
  const functionsDir = join(dir, 'functions');
  return readdirSync(functionsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(functionsDir, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

const isShared = (path) => SHARED_PATHS.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));

/**
 * @param {string[]} paths changed files, relative to the repository root
 * @param {string[]} functionNames the functions that exist now
 * @returns {{ functions: string[], deploy: boolean }}
 */
export function changedFunctions(paths, functionNames) {
  const changed = new Set();
  for (const path of paths) {
    if (isShared(path)) return { functions: [...functionNames].sort(), deploy: true };
    const match = /^functions\/([^/]+)\//.exec(path);
    // A deleted function's files still show in the diff; there is nothing left to build.
    if (match && functionNames.includes(match[1])) changed.add(match[1]);
  }
  const deploy = changed.size > 0 || paths.some((p) => p.startsWith('knative/'));
  return { functions: [...changed].sort(), deploy };
}

/** Files changed on head since it left base (three-dot: base's own later commits do not count). */
export function gitChangedPaths(base, head = 'HEAD', cwd = root) {
  const out = execFileSync('git', ['diff', '--name-only', '--no-renames', `${base}...${head}`], {
    cwd,
    encoding: 'utf8',
  });
  return out.split('\n').filter(Boolean);
}

/** A base that git cannot use: absent, the all-zero SHA of a new branch, or a commit this clone lacks. */
function isUsableBase(base, cwd) {
  if (!base || /^0+$/.test(base)) return false;
  try {
    execFileSync('git', ['cat-file', '-e', `${base}^{commit}`], { cwd, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** @returns {{ functions: string[], deploy: boolean }} */
export function resolve(args, cwd = root) {
  const all = listFunctions(cwd);
  if (args[0] === '--all') return { functions: all, deploy: true };
  const [base, head = 'HEAD'] = args;
  if (!isUsableBase(base, cwd)) {
    process.stderr.write(`changed-functions: no usable base commit (${base || 'none'}): every function\n`);
    return { functions: all, deploy: true };
  }
  return changedFunctions(gitChangedPaths(base, head, cwd), all);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.length === 0) {
    process.stderr.write('usage: node tools/changed-functions.mjs <base> [head] | --all\n');
    process.exit(2);
  }
  const { functions, deploy } = resolve(args, process.cwd());
  process.stdout.write(`functions=${JSON.stringify(functions)}\ndeploy=${deploy}\n`);
}
