import type { FastifyHelmetRouteOptions } from '@fastify/helmet';
import type { FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import * as v from 'valibot';
import type { AppContext } from './context.ts';
import { type FieldError, unprocessable } from './errors.ts';

/**
 * A route is declared once: method, path, valibot schemas, who may call it, and a handler. Validation runs
 * valibot directly (nothing is compiled at boot, so a cold start pays only for the routes it serves), and the
 * OpenAPI document is generated from the very same schemas, so the two cannot drift.
 */

export type Schema = v.GenericSchema;
type Out<S> = S extends Schema ? v.InferOutput<S> : undefined;

/** Who may call a route. An authenticator resolves the caller or throws a 401/403 HttpError. */
export interface Authenticator<U = unknown> {
  (ctx: AppContext, request: FastifyRequest): Promise<U>;
  /** The role an OpenAPI reader sees: any signed-in user, or superusers only. */
  readonly role: 'user' | 'superuser';
}

export interface HandlerArgs<B, Q, P, U> {
  body: B;
  query: Q;
  params: P;
  user: U;
  ctx: AppContext;
  request: FastifyRequest;
  reply: FastifyReply;
}

export interface ResponseSpec {
  description: string;
  /** Omitted for responses without a body (204). */
  schema?: Schema;
  /** Media types the body comes in; JSON unless listed (the OpenAPI document shows them). */
  mediaTypes?: string[];
  headers?: Record<string, { description: string; schema: { type: string } }>;
}

export interface RouteSpec<
  B extends Schema | undefined = Schema | undefined,
  Q extends Schema | undefined = Schema | undefined,
  P extends Schema | undefined = Schema | undefined,
  U = unknown,
> {
  method: HTTPMethods;
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  auth?: Authenticator<U>;
  body?: B;
  /** Media types the body may come in; JSON unless listed. */
  consumes?: string[];
  query?: Q;
  params?: P;
  /** Extra request headers worth documenting (e.g. Idempotency-Key). */
  headers?: Record<string, { description: string; required?: boolean }>;
  /** The success status (200 unless given). */
  status?: number;
  responses: Record<number, ResponseSpec>;
  /** Error statuses this route can answer besides those implied by its auth and inputs. */
  errors?: number[];
  /**
   * Extension members for this route's problems that do not carry their own, by status (the token endpoint
   * adds RFC 6749's `error` code to its 4xx, validation failures included).
   */
  problemMembers?(status: number): Record<string, string> | undefined;
  /** Security headers other than the API's (@fastify/helmet's route option), for a route that serves a page. */
  helmet?: FastifyHelmetRouteOptions['helmet'];
  handler(args: HandlerArgs<Out<B>, Out<Q>, Out<P>, U>): Promise<unknown>;
}

/** Identity function that gives a route spec its types. */
export function defineRoute<
  B extends Schema | undefined = undefined,
  Q extends Schema | undefined = undefined,
  P extends Schema | undefined = undefined,
  U = undefined,
>(spec: RouteSpec<B, Q, P, U>): RouteSpec<B, Q, P, U> {
  return spec;
}

// biome-ignore lint/suspicious/noExplicitAny: a list of routes is heterogeneous in its type parameters.
export type AnyRoute = RouteSpec<any, any, any, any>;

function fieldErrors(where: string, issues: v.BaseIssue<unknown>[]): FieldError[] {
  return issues.map((issue) => {
    const dotPath = v.getDotPath(issue);
    return { path: dotPath ? `${where}.${dotPath}` : where, message: issue.message };
  });
}

/** Validates one part of a request; every invalid field across all parts is reported together. */
function parsePart<S extends Schema | undefined>(
  where: string,
  schema: S,
  input: unknown,
  errors: FieldError[],
): Out<S> {
  if (!schema) return undefined as Out<S>;
  const result = v.safeParse(schema, input, { abortPipeEarly: true });
  if (result.success) return result.output as Out<S>;
  errors.push(...fieldErrors(where, result.issues));
  return undefined as Out<S>;
}

/** What a body is when it is not an object, in the words of the 422 that refuses it. */
function notAnObject(body: unknown): string | undefined {
  if (body === undefined) return 'must be a JSON object; none was sent';
  if (body === null) return 'must be a JSON object, not null';
  if (Array.isArray(body)) return 'must be a JSON object, not an array';
  if (typeof body !== 'object') return `must be a JSON object, not a ${typeof body}`;
  return undefined;
}

export function validateRequest(spec: AnyRoute, request: FastifyRequest) {
  const errors: FieldError[] = [];
  const params = parsePart('path', spec.params, request.params, errors);
  const query = parsePart('query', spec.query, request.query, errors);
  // Every body is an object. valibot's object schemas take an array (typeof [] is 'object'): `[]` would pass
  // as an empty update.
  const wrongBody = spec.body && notAnObject(request.body);
  if (wrongBody) errors.push({ path: 'body', message: wrongBody });
  const body = wrongBody ? undefined : parsePart('body', spec.body, request.body, errors);
  if (errors.length > 0) {
    throw unprocessable(
      errors.length === 1
        ? `Invalid request: ${errors[0]!.path}: ${errors[0]!.message}`
        : `Invalid request: ${errors.length} fields are invalid.`,
      errors,
    );
  }
  return { params, query, body };
}
