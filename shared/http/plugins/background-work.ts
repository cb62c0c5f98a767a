import fp from 'fastify-plugin';
import { settleBackground } from '../background.ts';

/**
 * Work that runs after a response (a password recovery's mail, shared/http/background.ts) finishes when the app
 * closes, before the context closes the pool it writes with: a SIGTERM right after a 202 loses nothing.
 *
 * @example app.register(backgroundWork)
 */
export const backgroundWork = fp(
  (app, _options, done) => {
    app.addHook('onClose', () => settleBackground(app.ctx));
    done();
  },
  { name: 'background-work' },
);
