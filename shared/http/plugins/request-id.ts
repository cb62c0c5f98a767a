import fp from 'fastify-plugin';

/**
 * Every response says which request it answers (`x-request-id`), so a client can quote it and find the log
 * lines. The id itself is Fastify's `genReqId` (requestIdOf in ../request-id.ts).
 *
 * @example app.register(requestId)
 */
export const requestId = fp(
  (app, _options, done) => {
    app.addHook('onSend', (request, reply, payload, next) => {
      reply.header('x-request-id', request.id);
      next(null, payload);
    });
    done();
  },
  { name: 'request-id' },
);
