// dist/functions/<name>/index.mjs: loads the function (function.cjs beside it) with the V8 code cache made at
// build time (function.v8cache), so a cold start deserializes compiled code instead of parsing and compiling
// a megabyte of JavaScript. Run by node it starts the server; imported (Lambda, tests) it only exports.
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, 'function.cjs');
const cacheFile = join(here, 'function.v8cache');

let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // No cache (a build without training): compile from source.
}

// The CommonJS wrapper on a line of its own, with lineOffset -1, keeps stack-trace positions true to the file.
const script = new Script(
  `(function (exports, require, module, __filename, __dirname) {\n${readFileSync(file, 'utf8')}\n})`,
  {
    filename: file,
    lineOffset: -1,
    cachedData,
  },
);
const module = { exports: {} };
script.runInThisContext()(module.exports, createRequire(file), module, file, here);

/**
 * "accepted", "rejected" (made by another Node binary or other V8 flags: V8 compiled from source instead, which
 * is correct but slower) or "missing".
 */
export const codeCache = cachedData ? (script.cachedDataRejected ? 'rejected' : 'accepted') : 'missing';

/** Writes the code cache of everything compiled so far: the build calls it after warm-up requests. */
export function writeCodeCache() {
  writeFileSync(cacheFile, script.createCachedData());
}

export const { handler, definition, main } = module.exports;

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
      `${file}: code cache rejected (built by another Node binary?); compiled from source\n`,
    );
  }
  await main();
}
