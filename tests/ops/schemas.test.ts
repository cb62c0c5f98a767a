import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMAS_DIR } from '../support/schemas.ts';

const reference = resolve('../shared');
/** Where each copy's original sits in the reference folder. */
const original = (file: string) => resolve(reference, file === 'CONTRACT.md' ? file : `schemas/${file}`);
const copies = readdirSync(SCHEMAS_DIR).filter((f) => f.endsWith('.json') || f === 'CONTRACT.md');

describe('vendored reference copies (schemas and the CONTRACT.md the route tests read)', () => {
  it('are all present', () => {
    expect(copies).toEqual(expect.arrayContaining(['github-workflow.schema.json', 'skaffold-v4beta14.json']));
    expect(copies.filter((f) => f.endsWith('.strict.schema.json')).length).toBeGreaterThanOrEqual(14);
  });

  // Only where the team's reference folder sits beside the checkout (CI, the team's machines).
  it.skipIf(!existsSync(reference))('match the reference copies in ../shared', () => {
    for (const file of copies) {
      expect(readFileSync(resolve(SCHEMAS_DIR, file), 'utf8'), file).toBe(
        readFileSync(original(file), 'utf8'),
      );
    }
  });
});
