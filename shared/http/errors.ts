/**
 * Typed HTTP errors. Anything thrown that is not one of these becomes a 500 whose body says nothing about
 * internals; the log keeps the real error with the request id.
 */

export interface FieldError {
  path: string;
  message: string;
}

export interface ProblemOptions {
  errors?: FieldError[];
  headers?: Record<string, string>;
  type?: string;
  /** Extension members of the problem (RFC 9457 §3.2), e.g. OAuth's `error` code on the token endpoint. */
  members?: Record<string, string>;
}

export class HttpError extends Error {
  readonly status: number;
  readonly detail: string;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  readonly type: string;
  readonly members: Record<string, string> | undefined;

  /** The problem's title is the status's own (problem.ts), so an error says only its status and detail. */
  constructor(status: number, detail: string, options: ProblemOptions = {}) {
    super(detail);
    this.name = 'HttpError';
    this.status = status;
    this.detail = detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.type = options.type ?? 'about:blank';
    this.members = options.members;
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) => new HttpError(400, detail, { errors });

export const unauthorized = (detail: string, invalidToken = false) =>
  new HttpError(401, detail, {
    headers: {
      'www-authenticate': invalidToken
        ? `Bearer error="invalid_token", error_description="${detail.replace(/"/g, "'")}"`
        : 'Bearer',
    },
  });

export const forbidden = (detail = 'You do not have the privileges this operation needs.') =>
  new HttpError(403, detail);

export const notFound = (detail = 'The requested resource was not found.') => new HttpError(404, detail);

export const conflict = (detail: string, errors?: FieldError[]) => new HttpError(409, detail, { errors });

export const unprocessable = (detail: string, errors?: FieldError[]) =>
  new HttpError(422, detail, { errors });

export const tooManyRequests = (retryAfterSeconds: number, detail = 'Too many requests; try again later.') =>
  new HttpError(429, detail, {
    headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });

export const serviceUnavailable = (
  detail = 'The service is temporarily unavailable.',
  retryAfterSeconds = 2,
) =>
  new HttpError(503, detail, {
    headers: { 'retry-after': String(retryAfterSeconds) },
  });

/** The answer to a request shed because the process or its database pool is saturated. */
export const busy = () => serviceUnavailable('The server is busy; retry shortly.', 1);
