import * as v from 'valibot';
import { publicJwks } from '../../shared/auth/tokens.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { text } from '../../shared/http/schemas.ts';
import { FORM_CONTENT_TYPE, registerFormParser } from './form.ts';
import { logIn } from './login.ts';

// v.object, not strictObject: RFC 6749 asks a token endpoint to ignore parameters it does not know
// (client_id, client_secret, ... as Swagger UI sends them).
const TokenRequest = v.object(
  {
    username: v.pipe(text({ min: 1, max: 320 }), v.trim(), v.nonEmpty('is required'), v.toLowerCase()),
    password: text({ min: 1, max: 1024 }),
    grant_type: v.optional(v.literal('password', 'must be "password"')),
    scope: v.optional(text({ max: 1024 })),
  },
  (issue) => (v.getDotPath(issue) === null ? 'must be form fields or a JSON object' : 'is required'),
);

const TokenResponse = v.object({
  access_token: v.string(),
  token_type: v.literal('bearer'),
  expires_in: v.pipe(v.number(), v.integer()),
});

const token = defineRoute({
  method: 'POST',
  url: '/api/auth/token',
  operationId: 'auth_token',
  summary: 'Log in: OAuth2 password grant',
  description:
    'Form-encoded (as OAuth2 clients and Swagger UI send it) or JSON: `username` (the email) and `password`; `grant_type=password` and `scope` are optional, other parameters and an HTTP Basic client header are ignored. A wrong email and a wrong password give the same 400. Repeated failures per account and per client address answer 429 with Retry-After.',
  tags: ['auth'],
  body: TokenRequest,
  consumes: [FORM_CONTENT_TYPE, 'application/json'],
  responses: {
    200: {
      description: 'An access token for `Authorization: Bearer`.',
      schema: TokenResponse,
      headers: { 'cache-control': { description: 'no-store', schema: { type: 'string' } } },
    },
  },
  errors: [400, 429],
  async handler({ body, ctx, request, reply }) {
    const answer = await logIn(ctx, body.username, body.password, request.ip);
    // RFC 6749 §5.1: token responses must not be cached.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return answer;
  },
});

const Jwk = v.looseObject({ kty: v.string(), kid: v.optional(v.string()), alg: v.optional(v.string()) });

const jwks = defineRoute({
  method: 'GET',
  url: '/api/auth/jwks.json',
  operationId: 'auth_jwks',
  summary: 'Public keys that verify access tokens (JWKS)',
  description:
    'The public half of JWT_PRIVATE_KEY, for other functions and the gateway to verify tokens without any secret. Empty `keys` when tokens are HS256 with the shared SECRET_KEY.',
  tags: ['auth'],
  responses: { 200: { description: 'A JSON Web Key Set.', schema: v.object({ keys: v.array(Jwk) }) } },
  async handler({ ctx, reply }) {
    reply.header('cache-control', 'public, max-age=300');
    return publicJwks(ctx.config);
  },
});

export const definition: FunctionDefinition = {
  name: 'auth',
  prefixes: ['/api/auth'],
  routes: [token, jwks],
  setup(app) {
    registerFormParser(app);
  },
};
