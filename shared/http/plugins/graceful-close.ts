import fp from 'fastify-plugin';
import { problem, requestPath, sendProblem } from '../problem.ts';

/**
 * Keep-alive sockets would hold close() open until they time out: once closing, every response ends its
 * connection, so in-flight requests finish and the server stops promptly. Fastify's own answer to a request
 * arriving meanwhile (return503OnClosing) is plain JSON without a request id; this one is problem+json.
 *
 * @example app.register(gracefulClose)
 */
export const gracefulClose = fp(
  (app, _options, done) => {
    let closing = false;
    app.addHook('preClose', (next) => {
      closing = true;
      next();
    });
    // A request that arrives on such a connection meanwhile is sent to retry elsewhere.
    app.addHook('onRequest', (request, reply, next) => {
      if (!closing) return next();
      const detail = 'This instance is shutting down; retry shortly.';
      sendProblem(reply, problem(503, detail, { instance: requestPath(request) }), { 'retry-after': '1' });
    });
    app.addHook('onSend', (_request, reply, payload, next) => {
      if (closing) reply.header('connection', 'close');
      next(null, payload);
    });
    done();
  },
  { name: 'graceful-close' },
);
