import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { problem, requestPath, sendProblem } from '../problem.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** 405 with Allow for a known path and another method, 404 otherwise (the method-first plugin asks it). */
    answerUnmatched(request: FastifyRequest, reply: FastifyReply): FastifyReply;
  }
}

/**
 * Path patterns of every route, so an unknown method on a known path answers 405 rather than 404. Made when
 * first asked (a 404, 405 or plain OPTIONS), not as each route is added: a cold start needs none of them.
 */
function routeMatcher() {
  const routes: { url: string; methods: string[]; pattern?: RegExp }[] = [];
  const patternOf = (url: string) => {
    const source = url
      .replace(/\/$/, '')
      .split('/')
      .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    return new RegExp(`^${source}/?$`);
  };
  return {
    add(url: string, methods: string[]) {
      routes.push({ url, methods });
    },
    allowed(path: string): string[] {
      const normalized = path.replace(/\/{2,}/g, '/');
      const matching = routes.filter((route) => {
        route.pattern ??= patternOf(route.url);
        return route.pattern.test(normalized);
      });
      return [...new Set(matching.flatMap((route) => route.methods))];
    },
  };
}

/**
 * Requests no route answers: 405 with Allow for a known path and another method, 404 otherwise, both as
 * problem+json. An OPTIONS that is no CORS preflight (no Origin or Access-Control-Request-Method) asks which
 * methods a path allows: it gets a 204 with Allow (or the 404), where @fastify/cors would answer a bare
 * text/plain 400. Register it before the cors plugin (its OPTIONS hook must run first) and before any route.
 *
 * @example app.register(unmatchedRoutes)
 */
export const unmatchedRoutes = fp(
  (app, _options, done) => {
    const matcher = routeMatcher();
    const answerUnmatched = (request: FastifyRequest, reply: FastifyReply) => {
      const instance = requestPath(request);
      const allowed = matcher.allowed(instance);
      if (allowed.length === 0) {
        return sendProblem(
          reply,
          problem(404, `No route matches ${request.method} ${instance}.`, { instance }),
        );
      }
      const detail = `${request.method} is not allowed here; use ${allowed.join(', ')}.`;
      return sendProblem(reply, problem(405, detail, { instance }), { allow: allowed.join(', ') });
    };
    app.addHook('onRoute', (route) => {
      matcher.add(route.url, Array.isArray(route.method) ? route.method : [route.method]);
    });
    // A hook that answers does not call next().
    app.addHook('onRequest', (request, reply, next) => {
      if (request.method !== 'OPTIONS') return next();
      if (request.headers.origin && request.headers['access-control-request-method']) return next();
      const allowed = matcher.allowed(requestPath(request));
      if (allowed.length === 0) answerUnmatched(request, reply);
      else
        reply
          .code(204)
          .header('allow', [...allowed, 'OPTIONS'].join(', '))
          .send();
    });
    app.setNotFoundHandler(answerUnmatched);
    app.decorate('answerUnmatched', answerUnmatched);
    done();
  },
  { name: 'unmatched-routes' },
);
