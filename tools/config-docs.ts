// `npm run config-docs`: writes README.md's Configuration table and .env.example from the variables declared in
// shared/config.ts (run it after adding or changing one; tests/unit/config-docs.test.ts checks it was run).
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_DOCS } from '../shared/config.ts';
import { renderEnvExample, withReadmeTable } from './config-docs/render.ts';

writeFileSync('README.md', withReadmeTable(readFileSync('README.md', 'utf8'), CONFIG_DOCS));
writeFileSync('.env.example', renderEnvExample(CONFIG_DOCS));
