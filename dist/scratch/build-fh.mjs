import * as esbuild from 'esbuild';
import { copyFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { lazyModules } from '../tools/bundle/plugins.mjs';
const out = '/tmp/perfx/fh';
for (const [dir, plugins] of [[out, []], [out + 'lazy', [lazyModules()]]]) {
await esbuild.build({ entryPoints: { function: '.scratch/fh/index.ts' }, bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: true, outdir: dir, outExtension: { '.js': '.cjs' }, plugins, logLevel: 'error' });
copyFileSync('tools/bundle/launcher.mjs', dir + '/index.mjs');
execFileSync(process.execPath, ['tools/bundle/train-code-cache.mjs', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
}
