import fp from 'fastify-plugin';
import { inRequestSpan } from '../../telemetry/request-tracing.ts';
import type { FunctionDefinition } from '../app.ts';
import { validateRequest } from '../route.ts';

export interface FunctionRoutesOptions {
  functions: readonly FunctionDefinition[];
}

/**
 * Serves each function's routes: the caller is authenticated, every part of the request validated with the
 * route's valibot schemas, and the handler's result sent as JSON with the route's success status. Register it
 * last, so every hook and the onRoute listeners (405s, the OpenAPI document) see the routes.
 *
 * @example app.register(functionRoutes, { functions: [definition] })
 */
export const functionRoutes = fp<FunctionRoutesOptions>(
  async (app, { functions }) => {
    const { ctx } = app;
    for (const fn of functions) {
      await fn.setup?.(app, ctx);
      for (const spec of fn.routes) {
        app.route({
          method: spec.method,
          url: spec.url,
          config: { spec, function: fn.name },
          ...(spec.helmet !== undefined && { helmet: spec.helmet }),
          handler: (request, reply) =>
            inRequestSpan(request, async () => {
              const user = spec.auth ? await spec.auth(ctx, request) : undefined;
              const { params, query, body } = validateRequest(spec, request);
              const result = await spec.handler({ body, query, params, user, ctx, request, reply });
              if (reply.sent) return reply;
              if (reply.statusCode === 200 && spec.status) reply.code(spec.status);
              if (result === undefined) return reply.send();
              return reply.type('application/json; charset=utf-8').send(JSON.stringify(result));
            }),
        });
      }
    }
  },
  { name: 'function-routes' },
);
