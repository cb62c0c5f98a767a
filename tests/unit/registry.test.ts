import { describe, expect, it } from 'vitest';
import { functionNames } from '../../esbuild.config.mjs';
import { allFunctions } from '../../functions/registry.ts';

describe('functions/registry.ts', () => {
  it('serves every function folder, so npm start has the whole API', () => {
    expect(allFunctions.map((f) => f.name).sort()).toEqual([...functionNames].sort());
  });
});
