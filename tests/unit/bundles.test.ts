import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { functionNames } from '../../esbuild.config.mjs';

/**
 * What each bundle carries, read from the esbuild metafile the build writes beside it (global setup builds
 * every function first). Covers every folder in functions/, so a function merged later is checked too.
 */

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports?: { path: string }[] }>;
}

const NEEDS_BCRYPT = new Set(['auth', 'users']);
// docs builds the OpenAPI document from every function's route declarations, so it may reach their imports.
const NOT_JUDGED = new Set(['docs']);

function bundleOf(name: string) {
  const dir = join('dist', 'functions', name);
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as Metafile;
  const inputs = Object.keys(meta.inputs);
  const imports = Object.values(meta.outputs)
    .flatMap((output) => output.imports ?? [])
    .map((i) => i.path);
  return {
    inputs,
    bcrypt: inputs.some((input) => /bcrypt/i.test(input)) || imports.includes('./bcrypt.node'),
    addonBeside: existsSync(join(dir, 'bcrypt.node')),
  };
}

describe('bundles carry bcrypt only where a route needs it', () => {
  it('knows the functions that need it', () => {
    for (const name of NEEDS_BCRYPT) expect(functionNames).toContain(name);
  });

  it.each(functionNames.filter((name) => !NOT_JUDGED.has(name)))('%s', (name) => {
    const bundle = bundleOf(name);
    expect(bundle.bcrypt).toBe(NEEDS_BCRYPT.has(name));
    expect(bundle.addonBeside).toBe(NEEDS_BCRYPT.has(name));
  });

  it('health carries no JWT code at all', () => {
    const { inputs } = bundleOf('health');
    expect(inputs.filter((input) => /node_modules\/jose\/|shared\/auth\//.test(input))).toEqual([]);
  });
});
