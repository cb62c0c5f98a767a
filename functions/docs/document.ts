import { readFile } from 'node:fs/promises';

/**
 * The OpenAPI document as JSON text. The build generates it from every function's routes (tools/openapi.ts,
 * over functions/registry.ts) and replaces this module with the result (see esbuild.config.mjs), so the docs
 * bundle carries none of the other functions' code and does no work at start-up. Running from source (tests),
 * it is the file that build wrote, so this function never imports the others (nor the generator).
 */
let document: Promise<string> | undefined;

export function loadOpenApiDocument(): Promise<string> {
  document ??= readFile(new URL('../../dist/openapi.json', import.meta.url), 'utf8').catch(
    (error: unknown) => {
      document = undefined;
      throw new Error('dist/openapi.json is missing: run `npm run openapi` (every build writes it)', {
        cause: error,
      });
    },
  );
  return document;
}
