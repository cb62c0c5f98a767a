import fp from 'fastify-plugin';

/**
 * Method first: a request no route takes (an unknown path, or a known path with another method) gets its 404 or
 * 405 with Allow from unmatched-routes before anything reads or parses its body, so a form sent with the wrong
 * method is a 405, never a 415, 413 or 400. Register it after cors, so a browser can read the answer.
 *
 * @example app.register(methodFirst)
 */
export const methodFirst = fp(
  (app, _options, done) => {
    // A hook that answers does not call next().
    app.addHook('onRequest', (request, reply, next) => {
      if (request.is404) app.answerUnmatched(request, reply);
      else next();
    });
    done();
  },
  { name: 'method-first', dependencies: ['unmatched-routes'] },
);
