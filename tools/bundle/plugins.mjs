// esbuild plugins that keep work out of a function's cold start without touching the code that does it.
// Each one is measured in tests/bench/RESULTS.md; the e2e tests run the bundles they shape.
import { builtinModules, createRequire } from 'node:module';

/**
 * Modules that a dependency requires when it loads but uses later, if ever. Each becomes a stand-in that loads
 * the real module on first use (property read, call or `new`), so a cold start never pays for them. Each rule
 * is named: `node esbuild.config.mjs --without=<name>` builds without it, and `npm run bench` measures every
 * function built so against the shipped build (tests/bench/RESULTS.md lists each rule with its gain).
 * - builtins: Node built-ins a bare node:http server does not load (Fastify requires https and http2 for
 *   servers we never make, find-my-way requires assert, pg requires tls and dns for connections made later).
 * - schema-compilers: Fastify's (Ajv, fast-json-stringify), loaded when an app is made; our routes validate
 *   with valibot, so they compile nothing unless a plugin declares a Fastify schema.
 * Packages (`chunk: true`) are moreover built apart, as chunks/<name>.cjs with their own dependencies: a cold
 * start neither reads nor deserializes their code, and the first use loads the chunk with its own code cache.
 */
export const LAZY_MODULES = [
  { name: 'builtins', specifier: /^(node:)?(assert|crypto|dns|http2|https|os|tls|zlib)$/ },
  {
    name: 'schema-compilers',
    specifier: /^\.\/(lib\/validator-compiler|lib\/serializer-compiler|standalone)$/,
    importer: /[\\/]@fastify[\\/]ajv-compiler[\\/]index\.js$/,
    chunk: true,
  },
  {
    name: 'schema-compilers',
    specifier: /^fast-json-stringify$/,
    importer: /[\\/]@fastify[\\/]fast-json-stringify-compiler[\\/]/,
    chunk: true,
  },
];

const isBuiltin = (specifier) => builtinModules.includes(specifier.replace(/^node:/, ''));

/** chunks/<name>.cjs for a lazily loaded module: the package it names, or for a file its path in the package. */
function chunkName(specifier, path) {
  const name = specifier.startsWith('.') ? path.split(/[\\/]node_modules[\\/]/).pop() : specifier;
  return name
    .replace(/\.[cm]?js$/, '')
    .replace(/^@/, '')
    .replace(/[^\w-]+/g, '-');
}

/**
 * `chunks` (name → entry path) collects the packages to build as chunks; `prefix` is where chunks/ is seen from
 * the output being built ('./chunks/' from the function, './' from a chunk); `without` names rules left out.
 */
export function lazyModules(chunks = new Map(), prefix = './chunks/', without = new Set()) {
  const rules = LAZY_MODULES.filter(({ name }) => !without.has(name));
  return {
    name: 'lazy-modules',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        // The stand-in's own require resolves as usual (bundled, or external for a built-in).
        if (args.namespace === 'lazy-module' || args.kind === 'entry-point' || args.pluginData?.lazy)
          return undefined;
        const rule = rules.find(
          ({ specifier, importer }) =>
            specifier.test(args.path) && (!importer || importer.test(args.importer)),
        );
        if (!rule) return undefined;
        const builtin = isBuiltin(args.path);
        let target = builtin ? `node:${args.path.replace(/^node:/, '')}` : args.path;
        if (rule.chunk) {
          const resolved = await build.resolve(args.path, {
            // The stand-in require()s it, so the chunk is the package's CommonJS entry.
            kind: 'require-call',
            resolveDir: args.resolveDir,
            importer: args.importer,
            pluginData: { lazy: true },
          });
          if (resolved.errors.length > 0) return { errors: resolved.errors };
          const name = chunkName(args.path, resolved.path);
          chunks.set(name, resolved.path);
          target = `${prefix}${name}.cjs`;
        }
        return {
          path: builtin ? args.path.replace(/^node:/, '') : `${args.resolveDir}:${args.path}`,
          namespace: 'lazy-module',
          pluginData: { specifier: args.path, resolveDir: args.resolveDir, target },
        };
      });
      // A chunk is its own file beside the output, loaded at run time (through the launcher, with its cache).
      build.onResolve({ filter: /\.cjs$/, namespace: 'lazy-module' }, (args) => ({
        path: args.path,
        external: true,
      }));
      build.onLoad({ filter: /.*/, namespace: 'lazy-module' }, (args) => ({
        contents: standIn(args.pluginData),
        resolveDir: args.pluginData.resolveDir,
        loader: 'js',
      }));
    },
  };
}

/**
 * The stand-in: a Proxy around a strict function (so a callable or constructible module still is). Its exports
 * are reached through its prototype, itself a Proxy that loads the module on the first read, and none is listed
 * as its own: an ES import, which esbuild turns into an object copying every own name of the module (a getter
 * each, and a large package has hundreds), then copies nothing, and its reads fall through to that prototype. Whether the
 * module marks itself `__esModule` is read at build time, because esbuild's interop asks as soon as an import
 * is evaluated. `assert(truthy)` passes without loading node:assert, as it would pass with it; a failing
 * assertion loads it and throws its AssertionError.
 */
function isEsModule(specifier, resolveDir) {
  return createRequire(`${resolveDir}/`)(specifier).__esModule === true;
}

function standIn({ specifier, resolveDir, target }) {
  const assert = /^(node:)?assert$/.test(specifier);
  return `let real;
const load = () => (real ??= require(${JSON.stringify(target)}));
const esModule = ${isEsModule(specifier, resolveDir)};
const target = function lazyModule() { 'use strict'; };
const passes = (args) => ${assert ? 'args.length > 0 && Boolean(args[0])' : 'false'};
const ok = (...args) => (passes(args) ? undefined : load().ok(...args));
const read = (key) =>
  key === '__esModule' ? esModule : ${assert ? "key === 'ok' ? ok : " : ''}Reflect.get(load(), key);
const exportsView = new Proxy(Object.create(null), {
  get: (_, key) => read(key),
  has: (_, key) => Reflect.has(load(), key),
});
module.exports = new Proxy(target, {
  get: (_, key) => read(key),
  set: (_, key, value) => Reflect.set(load(), key, value),
  has: (_, key) => Reflect.has(load(), key),
  getPrototypeOf: () => exportsView,
  apply: (_, self, args) => (passes(args) ? undefined : Reflect.apply(load(), self, args)),
  construct: (_, args) => Reflect.construct(load(), args),
});`;
}

const firstParty = (path, root) => path.startsWith(root) && !/[\\/]node_modules[\\/]/.test(path);

const HOST_MODULES = "Symbol.for('function-set.host-modules')";

/**
 * CommonJS has no code splitting, so a function's `import()`s of its own code (the OpenTelemetry SDK, the Lambda
 * adapter) become separate files, chunks/<name>.cjs, required on first use: a cold start never reads them. A
 * chunk gets the first-party modules it imports from the function that loaded it (registered under the
 * function's directory, see hostRegistry), so module state such as the metrics registry stays one.
 * `chunks` collects what to build: chunk name → entry path.
 */
export function splitDynamicImports(root, chunks, prefix = './chunks/') {
  return {
    name: 'split-dynamic-imports',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.pluginData?.splitting || !firstParty(args.importer, root))
          return undefined;
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { splitting: true },
        });
        if (resolved.errors.length > 0 || resolved.external) return undefined;
        const name = args.path
          .replace(/^@/, '')
          .replace(/\.[cm]?[jt]s$/, '')
          .replace(/[^\w-]+/g, '-')
          .replace(/^-+/, '');
        chunks.set(name, resolved.path);
        return { path: `${prefix}${name}.cjs`, external: true };
      });
    },
  };
}

/** In a chunk build: first-party imports come from the host function (see splitDynamicImports). */
export function importFromHost(root, entry, hostModules) {
  return {
    name: 'import-from-host',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, async (args) => {
        if (args.pluginData?.fromHost || !firstParty(args.importer, root)) return undefined;
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: { fromHost: true },
        });
        if (resolved.errors.length > 0 || !firstParty(resolved.path, root) || resolved.path === entry)
          return undefined;
        if (/\.json$/.test(resolved.path)) return undefined;
        const key = resolved.path.slice(root.length + 1).replaceAll('\\', '/');
        hostModules.add(key);
        return { path: key, namespace: 'host-module' };
      });
      build.onLoad({ filter: /.*/, namespace: 'host-module' }, (args) => ({
        contents: `const host = globalThis[${HOST_MODULES}]?.get(require('node:path').dirname(__dirname));
if (!host?.has(${JSON.stringify(args.path)})) throw new Error('chunk loaded without its function: ${args.path}');
module.exports = host.get(${JSON.stringify(args.path)});`,
        loader: 'js',
      }));
    },
  };
}

/**
 * The function's entry, wrapped: it registers the first-party modules its chunks import (their namespaces) under
 * the function's directory, then re-exports the function. Keyed by directory, so several bundles imported into
 * one process (the Lambda tests do) each serve their own chunks.
 */
export function hostRegistryEntry(root, entry, hostModules) {
  const modules = [...hostModules].sort();
  return {
    contents: [
      ...modules.map((key, i) => `import * as m${i} from ${JSON.stringify(`./${key}`)};`),
      `const registry = (globalThis[${HOST_MODULES}] ??= new Map());`,
      `registry.set(__dirname, new Map([${modules.map((key, i) => `[${JSON.stringify(key)}, m${i}]`).join(', ')}]));`,
      `export * from ${JSON.stringify(`./${entry.slice(root.length + 1).replaceAll('\\', '/')}`)};`,
    ].join('\n'),
    resolveDir: root,
    sourcefile: 'function-entry.js',
    loader: 'js',
  };
}
