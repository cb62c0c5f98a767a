import * as v from 'valibot';
import { canAccess, requireSuperuser, requireUser } from '../../shared/auth/current-user.ts';
import { housekeeping } from '../../shared/db/housekeeping.ts';
import type { PageWindow } from '../../shared/db/keyset.ts';
import { afterFirstResponse } from '../../shared/http/after-first-response.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { forbidden } from '../../shared/http/errors.ts';
import { PaginationQuery, pageSchema, paginate } from '../../shared/http/pagination.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { uuidParams } from '../../shared/http/schemas.ts';
import { mailPurges } from '../../shared/mail/housekeeping.ts';
import { mailer } from '../../shared/mail/index.ts';
import { listUsers } from './repository.ts';
import { SessionPublic, SignUp, toUserDto, UpdateMe, UpdateUser, UserPublic } from './schemas.ts';
import {
  administerUser,
  endMySession,
  listMySessions,
  readUser,
  removeUser,
  resendVerification,
  signUp,
  updateMe,
} from './service.ts';

const tags = ['users'];
const UserId = uuidParams('user_id');

const signUpRoute = defineRoute({
  method: 'POST',
  url: '/api/users/',
  operationId: 'users_sign_up',
  summary: 'Sign up',
  description:
    'Creates a normal, active user. The email is stored lower-cased and must be unused (409); the password is 8 characters to 72 bytes. Unknown fields (is_superuser...) are a 422.',
  tags,
  body: SignUp,
  status: 201,
  responses: { 201: { description: 'The new user.', schema: UserPublic } },
  errors: [409],
  async handler({ body, ctx }) {
    return toUserDto(await signUp(ctx, body));
  },
});

const listRoute = defineRoute({
  method: 'GET',
  url: '/api/users/',
  operationId: 'users_list',
  summary: 'List users (superuser)',
  description:
    'Every user, newest first (ties by id); `count` is the total. Follow `next_cursor` (sent as `cursor`) to walk every user exactly once.',
  tags,
  auth: requireSuperuser,
  query: PaginationQuery,
  responses: { 200: { description: 'A page of users.', schema: pageSchema(UserPublic) } },
  async handler({ query, ctx, user }) {
    return paginate(
      { secret: ctx.config.auth.secretKey, binding: { list: 'users', caller: `all:${user.id}` }, query },
      (window: PageWindow) => listUsers(ctx.db, window),
      toUserDto,
    );
  },
});

const readMe = defineRoute({
  method: 'GET',
  url: '/api/users/me',
  operationId: 'users_read_me',
  summary: 'The signed-in user',
  tags,
  auth: requireUser,
  responses: { 200: { description: 'The signed-in user.', schema: UserPublic } },
  async handler({ user }) {
    return toUserDto(user);
  },
});

const updateMeRoute = defineRoute({
  method: 'PUT',
  url: '/api/users/me',
  operationId: 'users_update_me',
  summary: 'Update the signed-in user',
  description:
    'Partial: only the fields sent change. A new email or password needs `current_password` (422 without it, 400 when it is wrong; wrong guesses count against the login rate limits). A new password ends every other session of the user; this one stays.',
  tags,
  auth: requireUser,
  body: UpdateMe,
  responses: { 200: { description: 'The updated user.', schema: UserPublic } },
  errors: [400, 409, 429],
  async handler({ body, user, ctx, request }) {
    return toUserDto(await updateMe(ctx, user, body, request.ip));
  },
});

const resendVerificationRoute = defineRoute({
  method: 'POST',
  url: '/api/users/me/verification-email',
  operationId: 'users_resend_verification_email',
  summary: 'Mail a new verification link to the signed-in user',
  description:
    'Sends the verification mail again, with a new link valid for EMAIL_VERIFY_TOKEN_EXPIRE_HOURS (older links keep working until they expire). 409 when the address is already verified. Requests count per user and per client address, with the login limits (429 with Retry-After past them).',
  tags,
  auth: requireUser,
  status: 202,
  responses: { 202: { description: 'The mail is on its way.', schema: v.object({ message: v.string() }) } },
  errors: [409, 429, 503],
  async handler({ user, ctx, request }) {
    await resendVerification(ctx, user, request.ip);
    return { message: `A verification link is on its way to ${user.email}.` };
  },
});

const listSessions = defineRoute({
  method: 'GET',
  url: '/api/users/me/sessions',
  operationId: 'users_list_my_sessions',
  summary: 'My open sessions',
  description:
    'Every session of the signed-in user that has not ended or expired, newest login first (ties by id); `count` is the total. Follow `next_cursor` (sent as `cursor`) for the next page. The one of the token that asks is marked `current`.',
  tags,
  auth: requireUser,
  query: PaginationQuery,
  responses: { 200: { description: 'A page of sessions.', schema: pageSchema(SessionPublic) } },
  async handler({ query, user, ctx }) {
    return listMySessions(ctx, user, query);
  },
});

const endSessionRoute = defineRoute({
  method: 'DELETE',
  url: '/api/users/me/sessions/:session_id',
  operationId: 'users_end_my_session',
  summary: 'End one of my sessions',
  description:
    'Its refresh token and access tokens stop working at once. A session of another user, or one already ended, is a 404.',
  tags,
  auth: requireUser,
  params: uuidParams('session_id'),
  status: 204,
  responses: { 204: { description: 'The session has ended.' } },
  errors: [404],
  async handler({ params, user, ctx }) {
    await endMySession(ctx, user, params.session_id);
  },
});

const readUserRoute = defineRoute({
  method: 'GET',
  url: '/api/users/:user_id',
  operationId: 'users_read',
  summary: 'A user by id (superuser, or that user)',
  description: 'A normal user asking for anyone else gets a 403, whether or not that id exists.',
  tags,
  auth: requireUser,
  params: UserId,
  responses: { 200: { description: 'The user.', schema: UserPublic } },
  errors: [403, 404],
  async handler({ params, user, ctx }) {
    if (!canAccess(user, params.user_id)) throw forbidden('Only a superuser can read another user.');
    return toUserDto(await readUser(ctx, params.user_id));
  },
});

const patchUser = defineRoute({
  method: 'PATCH',
  url: '/api/users/:user_id',
  operationId: 'users_update',
  summary: 'Update a user (superuser)',
  description:
    'Partial update of any user, including `is_active` and `is_superuser`. A superuser cannot deactivate or demote itself (403). The user’s existing tokens are re-checked at once; a deactivation ends all of the user’s sessions, a new password all but the caller’s own.',
  tags,
  auth: requireSuperuser,
  params: UserId,
  body: UpdateUser,
  responses: { 200: { description: 'The updated user.', schema: UserPublic } },
  errors: [404, 409],
  async handler({ params, body, user, ctx }) {
    return toUserDto(await administerUser(ctx, user, params.user_id, body));
  },
});

const deleteUserRoute = defineRoute({
  method: 'DELETE',
  url: '/api/users/:user_id',
  operationId: 'users_delete',
  summary: 'Delete a user and their items (superuser)',
  description:
    'A superuser cannot delete itself (403). The user’s sessions end and their tokens stop working at once.',
  tags,
  auth: requireSuperuser,
  params: UserId,
  status: 204,
  responses: { 204: { description: 'Deleted, with their items.' } },
  errors: [404],
  async handler({ params, user, ctx }) {
    await removeUser(ctx, user, params.user_id);
  },
});

export const definition: FunctionDefinition = {
  name: 'users',
  prefixes: ['/api/users'],
  routes: [
    signUpRoute,
    listRoute,
    readMe,
    updateMeRoute,
    resendVerificationRoute,
    listSessions,
    endSessionRoute,
    readUserRoute,
    patchUser,
    deleteUserRoute,
  ],
  setup(app, ctx) {
    // Mail a previous instance could not send goes out once this one has answered its first request.
    afterFirstResponse(app, () => mailer(ctx).start());
    housekeeping(app, ctx, mailPurges);
  },
};
