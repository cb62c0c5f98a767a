import fp from 'fastify-plugin';
import { requestPath } from '../problem.ts';

/**
 * One log line per request once it is answered, with the route template, status and duration (Fastify's own
 * request logging is off: it logs twice per request and without the route). Server errors log at error.
 *
 * @example app.register(requestLog)
 */
export const requestLog = fp(
  (app, _options, done) => {
    app.addHook('onResponse', (request, reply, next) => {
      const status = reply.statusCode;
      request.log[status >= 500 ? 'error' : 'info'](
        {
          method: request.method,
          path: requestPath(request),
          route: request.routeOptions.url ?? 'unmatched',
          status,
          duration_ms: Math.round(reply.elapsedTime * 100) / 100,
        },
        'request completed',
      );
      next();
    });
    done();
  },
  { name: 'request-log' },
);
