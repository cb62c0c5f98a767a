import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import { loadOpenApiDocument } from '../../functions/docs/document.ts';

/**
 * Every response an API test receives, checked against the served document (`/api/openapi.json`), so the
 * document and the behaviour cannot drift apart. @seriousme/openapi-schema-validator checks the document,
 * openapi-backend dereferences it and matches each request to its operation; Ajv (JSON Schema 2020-12, as OpenAPI 3.1) validates
 * the body against the schema of the status and media type the response has. A status or media type the
 * operation does not declare fails like a wrong body. Paths the document has no operation for (404, 405 of
 * the router) have nothing to check against.
 */

interface MediaType {
  schema?: object;
}
interface ResponseObject {
  content?: Record<string, MediaType>;
}

interface Checker {
  api: OpenAPIBackend;
  ajv: Ajv2020;
  compiled: WeakMap<object, ValidateFunction>;
}

let checker: Promise<Checker> | undefined;

function load(): Promise<Checker> {
  checker ??= (async () => {
    const document = JSON.parse(await loadOpenApiDocument()) as Record<string, unknown>;
    // openapi-backend's own check of the document knows OpenAPI 3.0 better than 3.1: the 3.1 validator
    // tests/api/openapi.test.ts uses checks it here, and openapi-backend (quick: no check) only routes.
    const checked = await new Validator().validate(document);
    if (!checked.valid)
      throw new Error(`the served document is not valid OpenAPI: ${JSON.stringify(checked.errors)}`);
    const api = new OpenAPIBackend({ definition: document as never, quick: true, validate: false });
    await api.init();
    // OpenAPI's own keywords (example, xml...) are annotations to JSON Schema: not strict about unknown ones.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    return { api, ajv, compiled: new WeakMap() };
  })();
  return checker;
}

function validatorFor({ ajv, compiled }: Checker, schema: object): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Resolves when `response` (to `method` `url`) is what the document says; throws, saying why, otherwise. */
export async function checkResponseAgainstDocument(
  method: string,
  url: string,
  response: Response,
): Promise<void> {
  const { pathname, searchParams } = new URL(url);
  const found = await load();
  const operation: Operation | undefined = found.api.router.matchOperation({
    method,
    path: pathname,
    headers: {},
    query: Object.fromEntries(searchParams),
  });
  if (!operation) return;
  const where = `${method} ${pathname} → ${response.status} (${operation.operationId})`;
  const responses = (operation.responses ?? {}) as Record<string, ResponseObject>;
  const declared = responses[String(response.status)] ?? responses.default;
  if (!declared) {
    throw new Error(`${where}: status not in the document (declared: ${Object.keys(responses).join(', ')})`);
  }
  const body = method === 'HEAD' ? '' : await response.clone().text();
  const contentType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const content = declared.content ?? {};
  if (!body) {
    if (Object.keys(content).length === 0 || method === 'HEAD') return;
    throw new Error(`${where}: empty body, the document declares ${Object.keys(content).join(', ')}`);
  }
  const mediaType = Object.entries(content).find(
    ([type]) => type.split(';')[0]!.trim().toLowerCase() === contentType,
  )?.[1];
  if (!mediaType) {
    throw new Error(
      `${where}: content-type ${contentType || '(none)'} not in the document (${Object.keys(content).join(', ') || 'no body'})`,
    );
  }
  if (!mediaType.schema || !contentType.endsWith('json')) return;
  const validate = validatorFor(found, mediaType.schema);
  if (!validate(JSON.parse(body))) {
    throw new Error(
      `${where}: body does not match the document: ${found.ajv.errorsText(validate.errors)}\n${body.slice(0, 500)}`,
    );
  }
}
