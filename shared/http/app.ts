import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Config } from '../config.ts';
import { answerClientError, followExchanges, refuseExpectation } from './client-errors.ts';
import {
  CONNECTION_TIMEOUTS,
  type ConnectionTimeouts,
  connectionTimeoutOptions,
} from './connection-timeouts.ts';
import type { AppContext } from './context.ts';
import { backgroundWork } from './plugins/background-work.ts';
import { BODY_LIMIT_BYTES, bodyLimit } from './plugins/body-limit.ts';
import { cors } from './plugins/cors.ts';
import { answerFrameworkError, errors } from './plugins/errors.ts';
import { functionRoutes } from './plugins/function-routes.ts';
import { gracefulClose } from './plugins/graceful-close.ts';
import { loadShedding } from './plugins/load-shedding.ts';
import { methodFirst } from './plugins/method-first.ts';
import { metrics } from './plugins/metrics.ts';
import { rateLimit } from './plugins/rate-limit.ts';
import { requestId } from './plugins/request-id.ts';
import { requestLog } from './plugins/request-log.ts';
import { securityHeaders } from './plugins/security-headers.ts';
import { tracing } from './plugins/tracing.ts';
import { unmatchedRoutes } from './plugins/unmatched-routes.ts';
import { requestIdOf } from './request-id.ts';
import type { AnyRoute } from './route.ts';

/**
 * A function: its name, the path prefixes it owns (the single source the Istio routes, the OpenAPI document
 * and the local all-in-one server are checked against), its routes, and any set-up of its own.
 */
export interface FunctionDefinition {
  name: string;
  prefixes: string[];
  routes: AnyRoute[];
  setup?(app: FastifyInstance, ctx: AppContext): void | Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
  interface FastifyContextConfig {
    /** The spec a route was declared with; the OpenAPI build reads it. */
    spec?: AnyRoute;
    function?: string;
  }
}

/**
 * TRUST_PROXY as Fastify's `trustProxy` (proxy-addr): true, false or a list of addresses, ranges and range names
 * as they are; Fastify's types leave out the hop count, so it is said as Fastify itself would: the nearest n hops.
 */
function trustProxyOption(setting: Config['trustProxy']) {
  return typeof setting === 'number' ? (_address: string, hop: number) => hop < setting : setting;
}

export interface BuildAppOptions {
  /** Set by the OpenAPI build: routes are registered for description only and never served. */
  describe?: (app: FastifyInstance) => void | Promise<void>;
  /** Tests shorten these so a slow client is cut in a moment (CONNECTION_TIMEOUTS unless given). */
  timeouts?: ConnectionTimeouts;
}

/**
 * Builds the Fastify app for one function, or for several (the local all-in-one server): Fastify's server
 * options, then one plugin per concern (./plugins/), in the order their hooks must run, then the routes.
 */
export async function buildApp(
  functions: FunctionDefinition[],
  ctx: AppContext,
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    // One line per request is written by the request-log plugin, with the route template and duration.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: requestIdOf,
    bodyLimit: BODY_LIMIT_BYTES,
    // request.ip is the client behind Istio/Knative (X-Forwarded-For from trusted hops only): TRUST_PROXY.
    trustProxy: trustProxyOption(config.trustProxy),
    // Long ids reach validation and get a 422 naming the field, rather than a bare router 404.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 2048 },
    // The graceful-close plugin answers instead, with problem+json and a request id like every other answer.
    return503OnClosing: false,
    // Every plugin, hook and route becomes one of avvio's, each with its own 10 s timer by default. Ours call
    // back at once; a hung one would show as a server that never listens, which the readiness probe reports.
    pluginTimeout: 0,
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    forceCloseConnections: 'idle',
    ...connectionTimeoutOptions(options.timeouts ?? CONNECTION_TIMEOUTS),
  });
  app.decorate('ctx', ctx);
  followExchanges(app.server);
  app.server.on('checkExpectation', refuseExpectation);
  // JSON only, unless a function opts into more (auth adds form-urlencoded); anything else is a 415.
  app.removeContentTypeParser('text/plain');

  // onRequest hooks run in this order: tracing first, so every answer has a trace id, then the security headers,
  // so every answer has them; 405s before CORS (a plain
  // OPTIONS is not a preflight); CORS before anything that refuses, so a browser can read the refusal; the
  // address limit before any answer, so scanning unknown paths counts too; then the method before anything about
  // the body (a 405 or 404 before a 413 or 415).
  if (!options.describe) app.register(tracing);
  app.register(securityHeaders);
  app.register(metrics, { endpoint: !options.describe });
  app.register(requestLog);
  app.register(unmatchedRoutes);
  app.register(cors, { origins: config.corsOrigins });
  if (config.rateLimit.perAddressPerMinute > 0) app.register(rateLimit);
  app.register(methodFirst);
  app.register(bodyLimit, { limit: BODY_LIMIT_BYTES });
  if (config.maxInFlightRequests > 0) app.register(loadShedding, { maxInFlight: config.maxInFlightRequests });
  app.register(requestId);
  app.register(gracefulClose);
  app.register(backgroundWork);
  app.register(errors);
  // The OpenAPI build registers @fastify/swagger here, on the root, so its onRoute hook sees every route.
  if (options.describe) await options.describe(app);
  app.register(functionRoutes, { functions });
  await app.after();
  return app;
}
