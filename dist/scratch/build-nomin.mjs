import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
const out = '/tmp/perfx/h';
mkdirSync(out, { recursive: true });
await esbuild.build({ entryPoints: { function: 'functions/health/index.ts' }, bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify: false, outdir: out, outExtension: { '.js': '.cjs' }, external: ['pg-native', 'cloudflare:sockets'], banner: { js: "var __importMetaUrl=require('node:url').pathToFileURL(__filename).href;" }, define: { 'import.meta.url': '__importMetaUrl' }, logLevel: 'error' });
copyFileSync('tools/bundle/launcher.mjs', out + '/index.mjs');
execFileSync(process.execPath, ['tools/bundle/train-code-cache.mjs', out], { stdio: ['ignore', 'ignore', 'inherit'] });
