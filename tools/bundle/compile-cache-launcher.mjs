// dist/functions/<name>/index.mjs when built with --launcher=compile-cache: loads the function (function.cjs
// beside it) through Node's own module loader with Node's compile cache (module.enableCompileCache), in
// compile-cache/ beside it, filled at build time by running the function. Run by node it starts the server;
// imported (Lambda, tests) it only exports.

import { realpathSync } from 'node:fs';
import module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const enabled = module.enableCompileCache({ directory: join(here, 'compile-cache'), portable: true });
const fn = module.createRequire(import.meta.url)('./function.cjs');

/** "enabled" when Node took the cache directory, else why not (Node checks each file's entry itself). */
export const codeCache =
  enabled.status === module.constants.compileCacheStatus.ENABLED ? 'enabled' : enabled.message;

/** Writes the compile cache of everything loaded so far: the build calls it after warm-up. */
export const writeCodeCache = () => module.flushCompileCache();

export const { handler, definition, main } = fn;

function isProgram() {
  if (process.env.AWS_LAMBDA_FUNCTION_NAME || !process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isProgram()) await main();
