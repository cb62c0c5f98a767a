import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOCS } from '../../shared/config.ts';
import { renderEnvExample, withReadmeTable } from '../../tools/config-docs/render.ts';

// The README's table and .env.example are what a new user reads: both are written from the declarations in
// shared/config.ts, so a variable added or changed there without running the generator fails here.
describe('configuration documentation', () => {
  it("README.md's Configuration table is the one shared/config.ts declares", () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme, 'README.md is out of date: run `npm run config-docs`').toBe(
      withReadmeTable(readme, CONFIG_DOCS),
    );
  });

  it('.env.example is the one shared/config.ts declares', () => {
    expect(
      readFileSync('.env.example', 'utf8'),
      '.env.example is out of date: run `npm run config-docs`',
    ).toBe(renderEnvExample(CONFIG_DOCS));
  });
});
