import fastifyCors, { type FastifyCorsOptions } from '@fastify/cors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** Origins allowed to call the API from a browser; `*` allows any (without credentials). */
  origins: readonly string[];
}

/**
 * @fastify/cors, applied to the instance by calling the plugin rather than registering it. Its hooks and OPTIONS
 * route go through Fastify's queue like any other, but the plugin does not become one of avvio's: registering it
 * would check the Fastify version range it declares, which loads semver at every cold start (see
 * tests/bench/RESULTS.md). tests/unit/plugins.test.ts makes that check at test time instead. The plugin reports
 * bad options through its callback, at once.
 */
function applyCors(app: FastifyInstance, options: FastifyCorsOptions): void {
  const plugin = fastifyCors as unknown as (
    instance: FastifyInstance,
    options: FastifyCorsOptions,
    done: (error?: Error) => void,
  ) => void;
  plugin(app, options, (error) => {
    if (error) throw error;
  });
}

/**
 * CORS for CORS_ORIGINS: the headers a browser client needs to read are exposed, and preflights are cached for
 * ten minutes.
 *
 * @example app.register(cors, { origins: ['https://app.example.com'] })
 */
export const cors = fp<CorsOptions>(
  (app, { origins }, done) => {
    const any = origins.includes('*');
    applyCors(app, {
      origin: any ? true : [...origins],
      credentials: !any,
      exposedHeaders: ['x-request-id', 'retry-after', 'www-authenticate', 'location'],
      maxAge: 600,
    });
    done();
  },
  { name: 'cors' },
);
