import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DatabaseBusyError, isDatabaseUnavailable } from '../../db/index.ts';
import { databaseUnavailable, requestsShed } from '../../telemetry/http-metrics.ts';
import { busy, HttpError, serviceUnavailable } from '../errors.ts';
import { problem, requestPath, sendProblem } from '../problem.ts';
import { TOO_LARGE_DETAIL } from './body-limit.ts';

/** Extension members the route adds to its problems that carry none of their own (see RouteSpec). */
function routeMembers(request: FastifyRequest, status: number) {
  return request.routeOptions.config.spec?.problemMembers?.(status);
}

function sendHttpError(error: HttpError, request: FastifyRequest, reply: FastifyReply) {
  return sendProblem(
    reply,
    problem(error.status, error.detail, {
      type: error.type,
      instance: requestPath(request),
      ...(error.errors && { errors: error.errors }),
      ...(error.members ?? routeMembers(request, error.status)),
    }),
    error.headers,
  );
}

/** Maps anything thrown to problem+json. Only typed errors and the framework's own 4xx say what went wrong. */
function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof HttpError) return sendHttpError(error, request, reply);
  const fn = request.server.ctx.functionName;
  if (error instanceof DatabaseBusyError) {
    requestsShed.inc({ function: fn, reason: 'db_queue' });
    request.log.warn({ err: error }, 'shed: database pool queue full');
    return sendHttpError(busy(), request, reply);
  }
  if (isDatabaseUnavailable(error)) {
    databaseUnavailable.inc({ function: fn });
    request.log.error({ err: error }, 'database unavailable');
    const unavailable = serviceUnavailable('The database is temporarily unavailable; retry shortly.', 2);
    return sendHttpError(unavailable, request, reply);
  }
  const instance = requestPath(request);
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail =
      status === 413
        ? TOO_LARGE_DETAIL
        : status === 415
          ? `Unsupported content type "${request.headers['content-type'] ?? ''}"; send application/json.`
          : error.message;
    return sendProblem(reply, problem(status, detail, { instance, ...routeMembers(request, status) }));
  }
  request.log.error({ err: error }, 'unhandled error');
  const detail = `An unexpected error occurred. Quote request id ${request.id} when reporting it.`;
  return sendProblem(reply, problem(500, detail, { instance }));
}

/** Fastify's `frameworkErrors` option: a request it cannot even start to route (a malformed URL...). */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
  // Answered outside the request's lifecycle (no hook runs), so the request id is set here.
  reply.header('x-request-id', request.id);
  sendProblem(
    reply,
    problem(status, error.message || 'Malformed request.', { instance: requestPath(request) }),
  );
}

/**
 * Every error a route or hook throws becomes application/problem+json (RFC 9457); internals stay in the log.
 *
 * @example app.register(errors)
 */
export const errors = fp(
  (app, _options, done) => {
    app.setErrorHandler(handleError);
    done();
  },
  { name: 'errors' },
);
