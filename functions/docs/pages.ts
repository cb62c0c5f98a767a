/**
 * The two documentation pages. They load everything from this host, under a policy that allows no inline
 * script and no other origin; the API's own policy (`default-src 'none'`) would block the pages entirely.
 */

export const ASSETS_PATH = '/api/docs/assets';
export const DOCUMENT_PATH = '/api/openapi.json';

/** @fastify/helmet's route option for the two pages: the API's other headers, this Content-Security-Policy. */
export const PAGE_HEADERS = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      // Swagger UI and ReDoc (styled-components) set styles at run time; scripts stay strictly external.
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      fontSrc: ["'self'", 'data:'],
      // The document, the token endpoint and "Try it out" requests: this host only.
      connectSrc: ["'self'"],
      // ReDoc runs its search index in a worker made from a blob.
      workerSrc: ["'self'", 'blob:'],
      baseUri: ["'none'"],
      formAction: ["'none'"],
      frameAncestors: ["'none'"],
    },
  },
};

const head = (title: string, stylesheets: string[]) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" type="image/png" href="${ASSETS_PATH}/favicon-32x32.png">
${stylesheets.map((href) => `<link rel="stylesheet" href="${ASSETS_PATH}/${href}">`).join('\n')}
</head>`;

export const SWAGGER_UI_PAGE = `${head('Function set API - Swagger UI', ['swagger-ui.css', 'docs.css'])}
<body>
<div id="swagger-ui"></div>
<script src="${ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="${ASSETS_PATH}/swagger-init.js"></script>
</body>
</html>
`;

// ReDoc starts by itself on a <redoc spec-url> element, so this page needs no script of its own.
export const REDOC_PAGE = `${head('Function set API - ReDoc', [])}
<body>
<redoc spec-url="${DOCUMENT_PATH}"></redoc>
<script src="${ASSETS_PATH}/redoc.standalone.js"></script>
</body>
</html>
`;
