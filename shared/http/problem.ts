import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FieldError } from './errors.ts';

/** RFC 9457 problem details, the body of every error response of every function. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  /** RFC 6749's error code, on the problems of the token and revocation endpoints. */
  error?: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function titleFor(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

export function problem(status: number, detail: string, extra: Partial<Problem> = {}): Problem {
  const body: Problem = { type: 'about:blank', title: titleFor(status), status, detail };
  return Object.assign(body, extra);
}

/** Sends a problem+json answer, with any headers it needs (Allow, Retry-After...). */
export function sendProblem(reply: FastifyReply, body: Problem, headers: Record<string, string> = {}) {
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** The request's path without its query: a problem's `instance`. */
export function requestPath(request: FastifyRequest): string {
  return request.url.split('?')[0] ?? request.url;
}
