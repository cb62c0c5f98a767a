/**
 * The OpenAPI document as JSON text. The build generates it from every function's routes and replaces this
 * module with the result (see esbuild.config.mjs), so the docs bundle carries none of the other functions'
 * code and does no work at start-up. Running from source (tests), it is generated here on first use.
 */
let document: Promise<string> | undefined;

export function loadOpenApiDocument(): Promise<string> {
  document ??= (async () => {
    const [{ generateOpenApiDocument }, { allFunctions }] = await Promise.all([
      import('../../tools/openapi/generate.ts'),
      import('../../local/functions.ts'),
    ]);
    return JSON.stringify(await generateOpenApiDocument(allFunctions));
  })().catch((error: unknown) => {
    document = undefined;
    throw error;
  });
  return document;
}
