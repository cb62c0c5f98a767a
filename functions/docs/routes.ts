import * as v from 'valibot';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { notFound } from '../../shared/http/errors.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { isAssetName, loadAsset } from './assets.ts';
import { loadOpenApiDocument } from './document.ts';
import { ASSETS_PATH, DOCUMENT_PATH, PAGE_HEADERS, REDOC_PAGE, SWAGGER_UI_PAGE } from './pages.ts';

const HTML = 'text/html; charset=utf-8';

const openapi = defineRoute({
  method: 'GET',
  url: DOCUMENT_PATH,
  operationId: 'docs_openapi',
  summary: 'The OpenAPI 3.1 document',
  description: 'Every endpoint of every function, for Swagger UI, ReDoc and client generators.',
  tags: ['docs'],
  responses: {
    200: { description: 'The OpenAPI 3.1 document.', schema: v.record(v.string(), v.unknown()) },
  },
  async handler({ reply }) {
    const document = await loadOpenApiDocument();
    return reply.type('application/json; charset=utf-8').header('cache-control', 'no-cache').send(document);
  },
});

const swaggerUi = defineRoute({
  method: 'GET',
  url: '/api/docs',
  operationId: 'docs_swagger_ui',
  summary: 'Swagger UI',
  description:
    'Explore and try the API. Authorize logs in with your email and password (OAuth2 password flow); "Try it out" then sends the token.',
  tags: ['docs'],
  helmet: PAGE_HEADERS,
  responses: { 200: { description: 'The Swagger UI page.', schema: v.string(), mediaTypes: ['text/html'] } },
  async handler({ reply }) {
    return reply.type(HTML).send(SWAGGER_UI_PAGE);
  },
});

const redoc = defineRoute({
  method: 'GET',
  url: '/api/redoc',
  operationId: 'docs_redoc',
  summary: 'ReDoc',
  description: 'The API reference, rendered by ReDoc.',
  tags: ['docs'],
  helmet: PAGE_HEADERS,
  responses: { 200: { description: 'The ReDoc page.', schema: v.string(), mediaTypes: ['text/html'] } },
  async handler({ reply }) {
    return reply.type(HTML).send(REDOC_PAGE);
  },
});

const asset = defineRoute({
  method: 'GET',
  url: `${ASSETS_PATH}/:file`,
  operationId: 'docs_asset',
  summary: 'A file the documentation pages load',
  description: 'Swagger UI, ReDoc and their start-up files, served from the bundle (no CDN).',
  tags: ['docs'],
  params: v.object({ file: v.pipe(v.string(), v.maxLength(100)) }),
  responses: {
    200: {
      description: 'The file.',
      schema: v.string(),
      mediaTypes: ['text/javascript', 'text/css', 'image/png'],
    },
  },
  errors: [404],
  async handler({ params, request, reply }) {
    if (!isAssetName(params.file)) throw notFound(`No documentation asset is named "${params.file}".`);
    const file = await loadAsset(params.file);
    const gzip = file.gzip && /\bgzip\b/.test(request.headers['accept-encoding'] ?? '');
    const vary = reply.getHeader('vary');
    reply
      .type(file.contentType)
      .header('cache-control', 'public, max-age=3600')
      .header('vary', vary ? `${vary}, accept-encoding` : 'accept-encoding');
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? file.gzip : file.body);
  },
});

export const definition: FunctionDefinition = {
  name: 'docs',
  prefixes: ['/api/docs', '/api/redoc', '/api/openapi.json'],
  routes: [openapi, swaggerUi, redoc, asset],
};
