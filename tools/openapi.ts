// `npm run openapi` (and every build): writes the OpenAPI document of every function to dist/openapi.json,
// or to the path given. The docs bundle embeds this file; client generators can read it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { allFunctions } from '../functions/registry.ts';
import { generateOpenApiDocument } from './openapi/generate.ts';

const out = resolve(process.argv[2] ?? 'dist/openapi.json');
const document = await generateOpenApiDocument(allFunctions);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
