import * as v from 'valibot';
import { requireUser } from '../../shared/auth/current-user.ts';
import type { IssuedSession } from '../../shared/auth/session-store.ts';
import { issueAccessToken, publicJwks } from '../../shared/auth/tokens.ts';
import { housekeeping } from '../../shared/db/housekeeping.ts';
import { afterFirstResponse } from '../../shared/http/after-first-response.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { afterResponse } from '../../shared/http/background.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { type FieldError, unprocessable } from '../../shared/http/errors.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { strictBody, text } from '../../shared/http/schemas.ts';
import { mailer } from '../../shared/mail/index.ts';
import { Email, Password } from '../users/schemas.ts';
import {
  assertCookieOrigin,
  clearedRefreshCookie,
  REFRESH_COOKIE,
  refreshCookieOf,
  setRefreshCookie,
} from './cookie.ts';
import { countRecoveryRequest, mailResetLink, resetPassword, verifyEmail } from './email.ts';
import { FORM_CONTENT_TYPE, registerFormParser } from './form.ts';
import { authPurges } from './housekeeping.ts';
import { logIn } from './login.ts';
import { oauthError, oauthProblemMembers } from './oauth-errors.ts';
import { refresh } from './refresh.ts';
import { endSessionNow, revoke } from './sign-out.ts';

const tags = ['auth'];
const NO_STORE = { 'cache-control': { description: 'no-store', schema: { type: 'string' } } };

// v.object, not strictObject: RFC 6749 asks a token endpoint to ignore parameters it does not know
// (client_id, client_secret, ... as Swagger UI sends them).
const TokenRequest = v.object(
  {
    grant_type: v.optional(
      v.pipe(text({ max: 64 }), v.description('`password` (the default) or `refresh_token`.')),
    ),
    username: v.optional(
      v.pipe(
        text({ min: 1, max: 320 }),
        v.trim(),
        v.nonEmpty('is required'),
        v.toLowerCase(),
        v.description('The email (password grant).'),
      ),
    ),
    password: v.optional(
      v.pipe(text({ min: 1, max: 1024 }), v.description('The password (password grant).')),
    ),
    refresh_token: v.optional(
      v.pipe(
        text({ min: 1, max: 512 }),
        v.description(
          `The refresh token to spend (refresh_token grant); omitted in cookie mode, where the \`${REFRESH_COOKIE}\` cookie carries it.`,
        ),
      ),
    ),
    scope: v.optional(text({ max: 1024 })),
    token_delivery: v.optional(
      v.pipe(
        v.picklist(['body', 'cookie'], 'must be "body" or "cookie"'),
        v.description(
          '`cookie`: the refresh token comes back in an HttpOnly, Secure, SameSite=Strict cookie limited to /api/auth instead of the body (browsers). Default: `body`, or `cookie` when the refresh token came in the cookie.',
        ),
      ),
    ),
  },
  'is required',
);
type TokenInput = v.InferOutput<typeof TokenRequest>;

const TokenResponse = v.object({
  access_token: v.string(),
  token_type: v.literal('bearer'),
  expires_in: v.pipe(v.number(), v.integer(), v.description('Seconds the access token lives.')),
  refresh_token: v.optional(
    v.pipe(
      v.string(),
      v.description('Spend it at this endpoint for a new pair; absent when it was delivered in a cookie.'),
    ),
  ),
  refresh_expires_in: v.pipe(
    v.number(),
    v.integer(),
    v.description(
      'Seconds until the session ends (REFRESH_TOKEN_EXPIRE_DAYS after its login), whatever the refreshes.',
    ),
  ),
});

/** The username and password a password grant needs, each missing one named, as the schema would. */
function credentialsOf(body: TokenInput): { username: string; password: string } {
  const { username, password } = body;
  if (username !== undefined && password !== undefined) return { username, password };
  const errors: FieldError[] = [];
  if (username === undefined) errors.push({ path: 'body.username', message: 'is required' });
  if (password === undefined) errors.push({ path: 'body.password', message: 'is required' });
  throw unprocessable(
    errors.length === 1
      ? `Invalid request: ${errors[0]?.path}: is required`
      : `Invalid request: ${errors.length} fields are invalid.`,
    errors,
  );
}

async function tokenAnswer(ctx: AppContext, issued: IssuedSession, inCookie: boolean) {
  const { token, expiresIn } = await issueAccessToken(
    ctx.config,
    issued.userId,
    issued.sessionId,
    issued.secondsLeft,
  );
  return {
    access_token: token,
    token_type: 'bearer' as const,
    expires_in: expiresIn,
    ...(!inCookie && { refresh_token: issued.refreshToken }),
    refresh_expires_in: issued.secondsLeft,
  };
}

const token = defineRoute({
  method: 'POST',
  url: '/api/auth/token',
  operationId: 'auth_token',
  summary: 'Log in (password grant) or refresh (refresh_token grant)',
  description: [
    'Form-encoded (as OAuth2 clients and Swagger UI send it) or JSON. Other parameters and an HTTP Basic client header are ignored (RFC 6749).',
    '**Password grant** (`grant_type=password` or none): `username` (the email) and `password` start a new session. A wrong email and a wrong password give the same 400 `invalid_grant`. Repeated failures per account and per client address answer 429 with Retry-After.',
    '**Refresh grant** (`grant_type=refresh_token`, `refresh_token`): spends the token and answers a new access token and a new refresh token. A spent token presented again is a replay: 400 `invalid_grant`, and its whole session ends. Within 10 seconds of the first use, the same token gets the same new refresh token instead (two tabs racing one refresh).',
    `**Browsers** may ask for \`token_delivery=cookie\`: the refresh token then lives in the HttpOnly \`${REFRESH_COOKIE}\` cookie (Path=/api/auth, SameSite=Strict), and a refresh without \`refresh_token\` spends the cookie's, only from an Origin listed in BACKEND_CORS_ORIGINS (403 otherwise).`,
    'Errors carry the RFC 6749 `error` code besides the problem fields.',
  ].join('\n\n'),
  tags,
  body: TokenRequest,
  consumes: [FORM_CONTENT_TYPE, 'application/json'],
  responses: {
    200: {
      description: 'A new access token for `Authorization: Bearer`, and the refresh token of its session.',
      schema: TokenResponse,
      headers: {
        ...NO_STORE,
        'set-cookie': {
          description: `In cookie mode: the refresh token, as \`${REFRESH_COOKIE}\` (HttpOnly; Secure; SameSite=Strict; Path=/api/auth).`,
          schema: { type: 'string' },
        },
      },
    },
  },
  errors: [400, 403, 429],
  problemMembers: oauthProblemMembers,
  async handler({ body, ctx, request, reply }) {
    // RFC 6749 §5.1: token responses must not be cached.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    const grant = body.grant_type ?? 'password';
    if (grant === 'password') {
      const { username, password } = credentialsOf(body);
      const issued = await logIn(ctx, username, password, {
        address: request.ip,
        userAgent: request.headers['user-agent'],
      });
      const inCookie = body.token_delivery === 'cookie';
      if (inCookie) setRefreshCookie(reply, issued.refreshToken, issued.secondsLeft);
      return tokenAnswer(ctx, issued, inCookie);
    }
    if (grant === 'refresh_token') {
      let given = body.refresh_token;
      let refusalHeaders: Record<string, string> = {};
      if (given === undefined) {
        given = refreshCookieOf(request);
        if (given === undefined)
          throw oauthError(
            400,
            'invalid_request',
            `refresh_token is required, in the body or in the ${REFRESH_COOKIE} cookie.`,
          );
        assertCookieOrigin(ctx.config, request);
        refusalHeaders = { 'set-cookie': clearedRefreshCookie() };
      }
      const inCookie =
        (body.token_delivery ?? (body.refresh_token === undefined ? 'cookie' : 'body')) === 'cookie';
      const issued = await refresh(ctx, given, refusalHeaders);
      if (inCookie) setRefreshCookie(reply, issued.refreshToken, issued.secondsLeft);
      return tokenAnswer(ctx, issued, inCookie);
    }
    throw oauthError(
      400,
      'unsupported_grant_type',
      `grant_type "${grant}" is not supported; use "password" or "refresh_token".`,
    );
  },
});

const logout = defineRoute({
  method: 'POST',
  url: '/api/auth/logout',
  operationId: 'auth_logout',
  summary: 'Log out: end this session',
  description: `Ends the session of the access token sent: its refresh token and every access token of it stop working at once, in every function. Clears the \`${REFRESH_COOKIE}\` cookie.`,
  tags,
  auth: requireUser,
  status: 204,
  responses: { 204: { description: 'The session has ended.' } },
  async handler({ user, ctx, reply }) {
    await endSessionNow(ctx, user.sessionId, 'logout');
    reply.header('set-cookie', clearedRefreshCookie());
  },
});

const RevokeRequest = v.object(
  {
    token: v.pipe(
      text({ min: 1, max: 8192 }),
      v.description('A refresh token, or an access token: either way its session ends.'),
    ),
    token_type_hint: v.optional(
      v.pipe(
        text({ max: 64 }),
        v.description('`refresh_token` or `access_token`: which kind to look for first.'),
      ),
    ),
  },
  (issue) => (v.getDotPath(issue) === null ? 'must be form fields or a JSON object' : 'is required'),
);

const revokeRoute = defineRoute({
  method: 'POST',
  url: '/api/auth/revoke',
  operationId: 'auth_revoke',
  summary: 'Revoke a token (RFC 7009)',
  description:
    'Form-encoded or JSON `token` (and an optional `token_type_hint`). The session of a refresh token (spent or not) or of an access token ends. The answer is 200 whether or not the token was known, so it tells nothing about tokens.',
  tags,
  body: RevokeRequest,
  consumes: [FORM_CONTENT_TYPE, 'application/json'],
  responses: { 200: { description: 'Done (or nothing to do).' } },
  problemMembers: oauthProblemMembers,
  async handler({ body, ctx }) {
    await revoke(ctx, body.token, body.token_type_hint);
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
  tags,
  responses: { 200: { description: 'A JSON Web Key Set.', schema: v.object({ keys: v.array(Jwk) }) } },
  async handler({ ctx, reply }) {
    reply.header('cache-control', 'public, max-age=300');
    return publicJwks(ctx.config);
  },
});

export const definition: FunctionDefinition = {
  name: 'auth',
  prefixes: ['/api/auth'],
  routes: [token, logout, revokeRoute, passwordRecovery, resetPasswordRoute, verifyEmailRoute, jwks],
  setup(app, ctx) {
    registerFormParser(app);
    // Mail a previous instance could not send goes out once this one has answered its first request.
    afterFirstResponse(app, () => mailer(ctx).start());
    housekeeping(app, ctx, authPurges);
  },
};
