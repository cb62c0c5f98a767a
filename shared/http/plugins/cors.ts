import fastifyCors from '@fastify/cors';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** Origins allowed to call the API from a browser; `*` allows any (without credentials). */
  origins: readonly string[];
}

/**
 * @fastify/cors for CORS_ORIGINS: the headers a browser client needs to read are exposed, and preflights are
 * cached for ten minutes.
 *
 * @example app.register(cors, { origins: ['https://app.example.com'] })
 */
export const cors = fp<CorsOptions>(
  async (app, { origins }) => {
    const any = origins.includes('*');
    await app.register(fastifyCors, {
      origin: any ? true : [...origins],
      credentials: !any,
      exposedHeaders: ['x-request-id', 'retry-after', 'www-authenticate', 'location'],
      maxAge: 600,
    });
  },
  { name: 'cors' },
);
