// dist/functions/<name>/index.mjs: loads the function (function.cjs beside it) with the V8 code cache made at
// build time (function.v8cache), so a cold start deserializes compiled code instead of parsing and compiling
// a megabyte of JavaScript. The build packs both with zstd (function.cjs.zst, function.v8cache.zst): a cold
// start reads a third of the bytes, for the time of decompressing them. The chunks the function loads on demand
// (chunks/*.cjs: the OpenTelemetry SDK...) are loaded the same way, each with its own cache, unpacked. Run by
// node it starts the server; imported (Lambda, tests) it only exports.

// Built-ins through process.getBuiltinModule rather than `import`: an ES import of a built-in builds a module
// facade of all its exports, and node:module (for createRequire) is needed only for what is not built in
// (bcrypt.node). Together a few milliseconds of every cold start.
const builtin = (id) => process.getBuiltinModule(id);
const { readFileSync, realpathSync, writeFileSync } = builtin('node:fs');
const { dirname, join, resolve } = builtin('node:path');
const { fileURLToPath } = builtin('node:url');
const { Script } = builtin('node:vm');

const here = dirname(fileURLToPath(import.meta.url));
const cacheFileOf = (file) => file.replace(/\.cjs$/, '.v8cache');

/** Every script loaded so far, by file: its vm.Script and what became of its cache. */
const loaded = new Map();

/**
 * A `require` for code loaded here: relative .cjs files (the chunks) go through loadScript, so they get their
 * code cache too; anything else (built-ins, bcrypt.node) goes to Node's own require.
 */
function requireFor(file) {
  let nodeRequire;
  const fromNode = () => (nodeRequire ??= builtin('node:module').createRequire(file));
  const required = (id) => {
    if (id.startsWith('.') && id.endsWith('.cjs')) return loadScript(resolve(dirname(file), id));
    return builtin(id) ?? fromNode()(id);
  };
  return Object.defineProperties(required, {
    resolve: { get: () => fromNode().resolve },
    cache: { get: () => fromNode().cache },
  });
}

/**
 * `unpacked` gives the function's own files, read and decompressed already. A script is the CommonJS wrapper
 * function (the build writes it so): compiled as read, it is read once. It is ASCII (the build checks), so
 * Latin-1 reads the same text without UTF-8 decoding.
 */
function loadScript(file, unpacked) {
  const known = loaded.get(file);
  if (known) return known.module.exports;
  const source = unpacked?.source ?? readFileSync(file, 'latin1');
  // No cache (a build without training, or a chunk training never loaded): V8 compiles from source.
  const cachedData = unpacked ? unpacked.cachedData : readIfThere(cacheFileOf(file));
  const script = new Script(source, { filename: file, cachedData });
  const module = { exports: {} };
  const cache = cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'missing';
  loaded.set(file, { script, module, cache });
  script.runInThisContext()(module.exports, requireFor(file), module, file, dirname(file));
  return module.exports;
}

function readIfThere(path) {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * function.cjs and its cache as the build packed them (`<file>.zst`), or undefined for a build that did not
 * (--readable, or the copy code-cache training runs before packing). Each is decompressed at once into one
 * buffer large enough for it (zstd packs these files 2.5-4×): Node's default 16 KiB output chunks, or the
 * thread pool of the asynchronous call, cost more than the decompression itself.
 */
function unpack(file) {
  const packedSource = readIfThere(`${file}.zst`);
  if (!packedSource) return undefined;
  const { zstdDecompressSync } = builtin('node:zlib');
  const decompress = (packed) => zstdDecompressSync(packed, { chunkSize: packed.length * 8 });
  const packedCache = readIfThere(`${cacheFileOf(file)}.zst`);
  return {
    source: decompress(packedSource).toString('latin1'),
    cachedData: packedCache && decompress(packedCache),
  };
}

const functionFile = join(here, 'function.cjs');
const fn = loadScript(functionFile, unpack(functionFile));

/**
 * The function's code cache: "accepted", "rejected" (made by another Node binary or other V8 flags: V8 compiled
 * from source instead, which is correct but slower) or "missing".
 */
export const codeCache = loaded.get(functionFile).cache;

/** The code cache of every script loaded so far, by file name relative to this folder. */
export function codeCaches() {
  return Object.fromEntries([...loaded].map(([file, { cache }]) => [file.slice(here.length + 1), cache]));
}

/** Writes the code cache of everything compiled so far, for each script loaded: the build calls it after warm-up. */
export function writeCodeCache() {
  for (const [file, { script }] of loaded) writeFileSync(cacheFileOf(file), script.createCachedData());
}

export const { handler, definition, main } = fn;

function isProgram() {
  if (process.env.AWS_LAMBDA_FUNCTION_NAME || !process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) {
  if (codeCache === 'rejected') {
    process.stderr.write(
      `${functionFile}: code cache rejected (built by another Node binary?); compiled from source\n`,
    );
  }
  await main();
}
