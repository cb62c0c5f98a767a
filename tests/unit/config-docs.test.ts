import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../../shared/config.ts';

// The README's table and .env.example are what a new user reads: a variable the code reads must be in both.
describe('configuration documentation', () => {
  const readme = readFileSync('README.md', 'utf8');
  const example = readFileSync('.env.example', 'utf8');

  it.each(CONFIG_VARIABLES)('%s is in the README and in .env.example', (name) => {
    expect(readme, `README.md does not mention \`${name}\``).toContain(`\`${name}\``);
    expect(example, `.env.example does not list ${name}=`).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });
});
