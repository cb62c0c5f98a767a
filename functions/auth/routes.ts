import * as v from 'valibot';
import { publicJwks } from '../../shared/auth/tokens.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { afterResponse } from '../../shared/http/background.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { strictBody, text } from '../../shared/http/schemas.ts';
import { mailer } from '../../shared/mail/index.ts';
import { Email, Password } from '../users/schemas.ts';
import { countRecoveryRequest, mailResetLink, resetPassword, verifyEmail } from './email.ts';
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

/** A token from a mailed link: opaque to the client, checked against its stored hash. */
const MailedToken = text({ min: 1, max: 256 });

const RECOVERY_ANSWER =
  'If an account has this address, a mail with a link to reset its password is on its way.';

const passwordRecovery = defineRoute({
  method: 'POST',
  url: '/api/auth/password-recovery',
  operationId: 'auth_password_recovery',
  summary: 'Mail a password reset link',
  description:
    'Answers 202 with the same body, in about the same time, whether or not an account has this address: the account is looked up, and its mail written, after the answer. Only the owner of an active account gets a mail, with a single-use link to `FRONTEND_HOST/reset-password?token=…` valid for EMAIL_RESET_TOKEN_EXPIRE_HOURS. Requests count per address asked about and per client address, with the login limits (429 with Retry-After past them).',
  tags: ['auth'],
  body: strictBody({ email: Email }),
  status: 202,
  responses: {
    202: { description: 'Accepted; the same for every address.', schema: v.object({ message: v.string() }) },
  },
  errors: [429, 503],
  async handler({ body, ctx, request, reply }) {
    await countRecoveryRequest(ctx, body.email, request.ip);
    afterResponse(ctx, reply, 'password recovery', () => mailResetLink(ctx, body.email));
    return { message: RECOVERY_ANSWER };
  },
});

const resetPasswordRoute = defineRoute({
  method: 'POST',
  url: '/api/auth/reset-password',
  operationId: 'auth_reset_password',
  summary: 'Set a new password with a mailed reset link',
  description:
    'The token from the recovery mail and the new password (8 characters to 72 bytes). The token works once and expires; a spent, expired or made-up one is a 400. Every session of the user ends, and older reset links stop working.',
  tags: ['auth'],
  body: strictBody({ token: MailedToken, new_password: Password }),
  status: 204,
  responses: { 204: { description: 'The password is changed.' } },
  errors: [400],
  async handler({ body, ctx }) {
    await resetPassword(ctx, body.token, body.new_password);
  },
});

const verifyEmailRoute = defineRoute({
  method: 'POST',
  url: '/api/auth/verify-email',
  operationId: 'auth_verify_email',
  summary: 'Verify an address with a mailed link',
  description:
    'The token from the verification mail (sent on sign-up, on a change of address, and on request). The user becomes `email_verified`. A spent, expired or made-up token, or one mailed to an address the account no longer has, is a 400.',
  tags: ['auth'],
  body: strictBody({ token: MailedToken }),
  status: 204,
  responses: { 204: { description: 'The address is verified.' } },
  errors: [400],
  async handler({ body, ctx }) {
    await verifyEmail(ctx, body.token);
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
  routes: [token, passwordRecovery, resetPasswordRoute, verifyEmailRoute, jwks],
  setup(app, ctx) {
    registerFormParser(app);
    // Mail a previous instance could not send goes out once this one is up; deferred so that being ready
    // never waits on the database.
    app.addHook('onReady', async () => {
      setImmediate(() => mailer(ctx).start());
    });
  },
};
