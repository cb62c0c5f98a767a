import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { enforceAddressLimit, UNLIMITED_ROUTES } from '../cache/rate-limit.ts';
import type { Config } from '../config.ts';
import { DatabaseBusyError, isDatabaseUnavailable } from '../db/index.ts';
import {
  coldStarts,
  databaseUnavailable,
  requestDuration,
  requestsShed,
  requestsTotal,
  watchPool,
} from '../telemetry/http-metrics.ts';
import { PROMETHEUS_CONTENT_TYPE, renderMetrics } from '../telemetry/metrics.ts';
import { inRequestSpan, traceRequests } from '../telemetry/request-tracing.ts';
import { startTracing, stopTracing } from '../telemetry/tracing.ts';
import { settleBackground } from './background.ts';
import type { AppContext } from './context.ts';
import { HttpError, serviceUnavailable } from './errors.ts';
import { refuseOversizedBodies } from './oversized-body.ts';
import { PROBLEM_CONTENT_TYPE, type Problem, problem } from './problem.ts';
import { newRequestId } from './request-id.ts';
import { type AnyRoute, validateRequest } from './route.ts';
import { applySecurityHeaders } from './security-headers.ts';
import { trustedProxies } from './trusted-proxies.ts';

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

export const BODY_LIMIT_BYTES = 1024 * 1024;
const TOO_LARGE_DETAIL = `The request body is larger than ${BODY_LIMIT_BYTES} bytes.`;
const BUSY_DETAIL = 'The server is busy; retry shortly.';
/** Liveness must answer even when the process sheds load: a restart would only make an overload worse. */
const NEVER_SHED = new Set(['/api/health/live']);
const REQUEST_ID = /^[\w\-.:@]{1,128}$/;

const started = new Set<string>();

export function sendProblem(reply: FastifyReply, body: Problem, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

function instanceOf(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? request.url;
}

/** Maps anything thrown to problem+json. Only typed errors and the framework's own 4xx say what went wrong. */
function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  const instance = instanceOf(request);
  if (error instanceof HttpError) {
    return sendProblem(
      reply,
      problem(error.status, error.detail, {
        type: error.type,
        instance,
        ...(error.errors && { errors: error.errors }),
      }),
      error.headers,
    );
  }
  if (error instanceof DatabaseBusyError) {
    requestsShed.inc({ function: request.server.ctx.functionName, reason: 'db_queue' });
    request.log.warn({ err: error }, 'shed: database pool queue full');
    return sendProblem(reply, problem(503, BUSY_DETAIL, { instance }), { 'retry-after': '1' });
  }
  if (isDatabaseUnavailable(error)) {
    databaseUnavailable.inc({ function: request.server.ctx.functionName });
    request.log.error({ err: error }, 'database unavailable');
    return sendProblem(
      reply,
      problem(503, 'The database is temporarily unavailable; retry shortly.', { instance }),
      { 'retry-after': '2' },
    );
  }
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail =
      status === 413
        ? TOO_LARGE_DETAIL
        : status === 415
          ? `Unsupported content type "${request.headers['content-type'] ?? ''}"; send application/json.`
          : error.message;
    return sendProblem(reply, problem(status, detail, { instance }));
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(
    reply,
    problem(500, `An unexpected error occurred. Quote request id ${request.id} when reporting it.`, {
      instance,
    }),
  );
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large.'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request took too long to arrive.'],
};

/**
 * Requests Node's HTTP parser rejects (headers over its limit, a garbled request line) never reach Fastify's
 * handlers; Fastify's default answer is plain JSON. They get problem+json like every other error.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'The request is malformed.'];
  const body = JSON.stringify(problem(status, detail));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nx-request-id: ${newRequestId()}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
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
 * @fastify/cors, applied to the root instance by calling the plugin rather than registering it. Its hooks and
 * OPTIONS route go through Fastify's queue like any other (so they keep their place among our hooks), but the
 * plugin itself does not become one of avvio's: a registered plugin costs avvio's loading machinery and, for
 * this one, the Fastify version range fastify-plugin attaches to it, whose check loads semver (together
 * ≈ 5 ms of a cold start, tests/bench/RESULTS.md). tests/unit/plugins.test.ts checks that range at test time.
 * The plugin reports bad options through its callback, at once.
 */
function applyCors(app: FastifyInstance, options: FastifyCorsOptions): void {
  const plugin = cors as unknown as (
    instance: FastifyInstance,
    options: FastifyCorsOptions,
    done: (error?: Error) => void,
  ) => void;
  plugin(app, options, (error) => {
    if (error) throw error;
  });
}

/**
 * Fastify's types leave out the hop-count form, so say it the way proxy-addr means it: the nearest n hops. A
 * list becomes a function too, which Fastify takes as it is (see trusted-proxies.ts).
 */
function trustProxyOption(setting: Config['trustProxy']) {
  if (typeof setting === 'number') return (_address: string, hop: number) => hop < setting;
  return typeof setting === 'boolean' ? setting : trustedProxies(setting);
}

export interface BuildAppOptions {
  /** Set by the OpenAPI build: routes are registered for description only and never served. */
  describe?: (app: FastifyInstance) => void | Promise<void>;
}

/** Builds the Fastify app for one function, or for several (the local all-in-one server). */
export async function buildApp(
  functions: FunctionDefinition[],
  ctx: AppContext,
  options: BuildAppOptions = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    // One line per request is written in onResponse below, with the route template and duration.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'request_id' }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newRequestId();
    },
    bodyLimit: BODY_LIMIT_BYTES,
    // request.ip is the client behind Istio/Knative (X-Forwarded-For from trusted hops only): TRUST_PROXY.
    trustProxy: trustProxyOption(ctx.config.trustProxy),
    // Long ids reach validation and get a 422 naming the field, rather than a bare router 404.
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 2048 },
    return503OnClosing: true,
    // Every hook and route Fastify adds becomes a plugin of avvio's, each with its own 10 s timer by default: a
    // cold start armed and cleared a dozen of them. Ours call back at once; a hung one would show as a server
    // that never listens, which the readiness probe reports.
    pluginTimeout: 0,
    clientErrorHandler: answerClientError,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 75_000,
    frameworkErrors: (error, request, reply) => {
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
      sendProblem(
        reply,
        problem(status, error.message || 'Malformed request.', { instance: instanceOf(request) }),
      );
    },
  });
  app.decorate('ctx', ctx);
  if (!started.has(ctx.functionName)) {
    started.add(ctx.functionName);
    coldStarts.inc({ function: ctx.functionName });
  }
  // Before any other hook, so preflights and early rejections get a span and a trace id too.
  const tracing = options.describe
    ? undefined
    : await startTracing({ config: ctx.config, functionName: ctx.functionName, log: ctx.log });
  if (tracing) {
    traceRequests(app, tracing);
    ctx.onClose(() => stopTracing(tracing));
  }
  watchPool(ctx.functionName, () => ctx.database?.pool);

  // JSON only, unless a function opts into more (auth adds form-urlencoded); anything else is a 415.
  app.removeContentTypeParser('text/plain');

  const matcher = routeMatcher();
  /** 405 with Allow for a known path and another method, 404 otherwise. */
  const answerUnmatched = (request: FastifyRequest, reply: FastifyReply) => {
    const allowed = matcher.allowed(instanceOf(request));
    if (allowed.length > 0) {
      return sendProblem(
        reply,
        problem(405, `${request.method} is not allowed here; use ${allowed.join(', ')}.`, {
          instance: instanceOf(request),
        }),
        { allow: allowed.join(', ') },
      );
    }
    return sendProblem(
      reply,
      problem(404, `No route matches ${request.method} ${instanceOf(request)}.`, {
        instance: instanceOf(request),
      }),
    );
  };
  // An OPTIONS that is no CORS preflight (no Origin or Access-Control-Request-Method) would get
  // @fastify/cors's bare text/plain 400. It asks which methods a path allows: say so, or 404 as for any
  // unknown path. Added before the plugin so it runs first.
  // The hooks that never wait call done() rather than being async: they run on every request, and an async hook
  // costs a promise and a turn of the microtask queue each time. A hook that answers does not call done().
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'OPTIONS') return done();
    if (request.headers.origin && request.headers['access-control-request-method']) return done();
    const allowed = matcher.allowed(instanceOf(request));
    if (allowed.length === 0) answerUnmatched(request, reply);
    else
      reply
        .code(204)
        .header('allow', [...allowed, 'OPTIONS'].join(', '))
        .send();
  });

  applyCors(app, {
    origin: ctx.config.corsOrigins.includes('*') ? true : ctx.config.corsOrigins,
    credentials: !ctx.config.corsOrigins.includes('*'),
    exposedHeaders: ['x-request-id', 'retry-after', 'www-authenticate', 'location'],
    maxAge: 600,
  });

  // A body declared too large is refused before anything reads it, with a 413 the client can read.
  app.addHook(
    'onRequest',
    refuseOversizedBodies(BODY_LIMIT_BYTES, (request, reply) =>
      sendProblem(reply, problem(413, TOO_LARGE_DETAIL, { instance: instanceOf(request) })),
    ),
  );

  if (ctx.config.rateLimit.perAddressPerMinute > 0) {
    // Hooks run in the order registered, so CORS (above) has already run and a browser can read the 429.
    app.addHook('onRequest', async (request) => {
      if (UNLIMITED_ROUTES.has(request.routeOptions.url ?? '')) return;
      await enforceAddressLimit(ctx, request);
    });
  }
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    matcher.add(route.url, methods);
  });

  // A bounded number of requests at once: past it a quick 503 beats a queue whose latency grows unbounded.
  const maxInFlight = ctx.config.maxInFlightRequests;
  let inFlight = 0;
  if (maxInFlight > 0) {
    app.addHook('onRequest', (request, reply, done) => {
      if (NEVER_SHED.has(request.routeOptions.url ?? '')) return done();
      if (inFlight >= maxInFlight) {
        requestsShed.inc({ function: ctx.functionName, reason: 'in_flight' });
        return done(serviceUnavailable(BUSY_DETAIL, 1));
      }
      inFlight += 1;
      // 'close' fires for every response, finished or aborted, so the count cannot leak.
      reply.raw.once('close', () => {
        inFlight -= 1;
      });
      done();
    });
  }

  // Keep-alive sockets would hold close() open until they time out: once closing, every response ends its
  // connection, so in-flight requests finish and the server stops promptly.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // Work that runs after a response (shared/http/background.ts) finishes before the context closes.
  app.addHook('onClose', () => settleBackground(ctx));

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    if (closing) reply.header('connection', 'close');
    applySecurityHeaders(reply);
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    const labels = { function: ctx.functionName, method: request.method, route, status };
    requestsTotal.inc(labels);
    requestDuration.observe(labels, seconds);
    const level = status >= 500 ? 'error' : 'info';
    request.log[level](
      {
        method: request.method,
        path: instanceOf(request),
        route,
        status,
        duration_ms: Math.round(reply.elapsedTime * 100) / 100,
      },
      'request completed',
    );
    done();
  });

  app.setErrorHandler(handleError);
  app.setNotFoundHandler(answerUnmatched);

  if (options.describe) await options.describe(app);
  else {
    // For the scraper (a PodMonitor on the pod's port): outside /api, so no Istio route ever exposes it, and
    // logged only at warn so a scrape every few seconds does not fill the log.
    app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) =>
      reply.type(PROMETHEUS_CONTENT_TYPE).send(await renderMetrics()),
    );
  }

  for (const fn of functions) {
    await fn.setup?.(app, ctx);
    for (const spec of fn.routes) {
      app.route({
        method: spec.method,
        url: spec.url,
        config: { spec, function: fn.name },
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
  return app;
}
