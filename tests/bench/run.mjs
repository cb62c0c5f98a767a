// `npm run bench` (after `node esbuild.config.mjs`): the benchmark is TypeScript like the rest of tests/, so it is
// bundled first (dependencies stay in node_modules), then run. See bench.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outfile = join(root, 'dist', 'bench', 'bench.mjs');
await esbuild.build({
  entryPoints: [join(root, 'tests', 'bench', 'bench.ts')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  packages: 'external',
  // Imported where it is, so that it finds the project from its own location (dist/bench/ is as deep as tests/bench/).
  external: ['../../esbuild.config.mjs'],
  outfile,
  logLevel: 'warning',
});
await import(pathToFileURL(outfile).href);
