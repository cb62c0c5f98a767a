import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './manifests.ts';

/**
 * The function set and the prefixes each one owns (CONTRACT.md). Fixed here as well as read from each
 * functions/<name>/routes.ts, so the route tests mean something before every function exists on a branch, and
 * fail when a definition drifts from the contract.
 */
export const CONTRACT_PREFIXES: Record<string, string[]> = {
  auth: ['/api/auth'],
  users: ['/api/users'],
  items: ['/api/items'],
  health: ['/api/health', '/api/metrics'],
  docs: ['/api/docs', '/api/redoc', '/api/openapi.json'],
};

export const CONTRACT_FUNCTIONS = Object.keys(CONTRACT_PREFIXES);

/** The functions that exist in this checkout: folders of functions/ with an index.ts (as esbuild.config.mjs). */
export function functionFolders(): string[] {
  return readdirSync(join(repoRoot, 'functions'), { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(repoRoot, 'functions', d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

/** Whether a function writes mail (its code imports shared/mail): it then sends it too, through its own relay. */
export function sendsMail(name: string): boolean {
  const dir = join(repoRoot, 'functions', name);
  return readdirSync(dir)
    .filter((file) => file.endsWith('.ts'))
    .some((file) => /shared\/mail\//.test(readFileSync(join(dir, file), 'utf8')));
}
