import type { FastifyInstance } from 'fastify';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

class UnsupportedForm extends Error {
  readonly statusCode = 415;
}

/**
 * Parses `application/x-www-form-urlencoded` (the OAuth2 password grant, as Swagger UI's Authorize sends it)
 * with node's URLSearchParams. A parser added to the app serves every route of it, so it refuses routes that
 * do not list the form in `consumes`: in the all-in-one local server, sign-up must stay JSON-only as it is in
 * the users bundle.
 *
 * A repeated parameter becomes an array, which the route's string schema rejects with a 422 (RFC 6749 forbids
 * repeating a parameter), rather than one value silently winning.
 */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string' }, (request, body, done) => {
    if (!request.routeOptions.config.spec?.consumes?.includes(FORM_CONTENT_TYPE)) {
      done(new UnsupportedForm(`Unsupported content type "${FORM_CONTENT_TYPE}"; send application/json.`));
      return;
    }
    const fields: Record<string, string | string[]> = Object.create(null);
    for (const [name, value] of new URLSearchParams(body as string)) {
      const previous = fields[name];
      fields[name] = previous === undefined ? value : [previous, value].flat();
    }
    done(null, fields);
  });
}
