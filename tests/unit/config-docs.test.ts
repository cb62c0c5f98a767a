import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, CONFIG_VARIABLES } from '../../shared/config.ts';

// The README's table and .env.example are what a new user reads: a variable the code reads must be in both,
// with the default shared/config.ts declares for it.
describe('configuration documentation', () => {
  const readme = readFileSync('README.md', 'utf8');
  const example = readFileSync('.env.example', 'utf8');

  it.each(CONFIG_VARIABLES)('%s is in the README and in .env.example', (name) => {
    expect(readme, `README.md does not mention \`${name}\``).toContain(`\`${name}\``);
    expect(example, `.env.example does not list ${name}=`).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });

  const withDefaults = [...CONFIG_DEFAULTS].filter(
    (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '',
  );
  it.each(withDefaults)(
    '%s shows its default %s in the README table and in .env.example',
    (name, fallback) => {
      const row = readme.split('\n').find((line) => line.split('|')[1]?.includes(`\`${name}\``));
      expect(row, `README.md has no Configuration row for \`${name}\``).toBeDefined();
      expect(row, `README.md's row for ${name} does not show its default`).toContain(`\`${fallback}\``);
      const line = example.match(new RegExp(`^${name}=(.*)$`, 'm'));
      if (line)
        expect(line[1], `.env.example sets ${name} to something else than its default`).toBe(fallback);
    },
  );
});
