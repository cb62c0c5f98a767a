import fp from 'fastify-plugin';

/**
 * Keep-alive sockets would hold close() open until they time out: once closing, every response ends its
 * connection, so in-flight requests finish and the server stops promptly.
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
    app.addHook('onSend', (_request, reply, payload, next) => {
      if (closing) reply.header('connection', 'close');
      next(null, payload);
    });
    done();
  },
  { name: 'graceful-close' },
);
