import {
  type CurrentUser,
  forgetSessions,
  forgetUser,
  type SignedInUser,
} from '../../shared/auth/current-user.ts';
import { hashPassword, verifyPassword } from '../../shared/auth/passwords.ts';
import {
  endAllSessions,
  endOtherSessions,
  endSession,
  listOpenSessions,
  unexpiredSessionIds,
} from '../../shared/auth/session-store.ts';
import { assertLoginAllowed, countMailRequest, recordLoginFailure } from '../../shared/cache/rate-limit.ts';
import type { Db } from '../../shared/db/index.ts';
import type { PageWindow } from '../../shared/db/keyset.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { badRequest, conflict, forbidden, notFound, unprocessable } from '../../shared/http/errors.ts';
import { type Pagination, paginate } from '../../shared/http/pagination.ts';
import { mailer } from '../../shared/mail/index.ts';
import { queueVerificationMail } from '../../shared/mail/verification.ts';
import {
  DuplicateEmail,
  deleteUser,
  findPasswordHash,
  findUser,
  insertUser,
  type UserChanges,
  updateUser,
} from './repository.ts';
import { type SignUpInput, toSessionDto, type UpdateMeInput, type UpdateUserInput } from './schemas.ts';

const emailTaken = () =>
  conflict('A user with this email already exists.', [
    { path: 'body.email', message: 'is already registered' },
  ]);

/** The new user, with a verification mail to their address written in the same transaction. */
export async function signUp(ctx: AppContext, input: SignUpInput): Promise<CurrentUser> {
  const hashed = await hashPassword(input.password, ctx.config.auth.bcryptCost);
  const user = await ctx.db.transaction().execute(async (trx) => {
    const created = await insertUser(trx, {
      email: input.email,
      hashed_password: hashed,
      full_name: input.full_name ?? null,
    });
    if (created) await queueVerificationMail(ctx, trx, created);
    return created;
  });
  if (!user) throw emailTaken();
  mailer(ctx).afterCommit();
  return user;
}

/** Sessions to end in the same transaction as a change; returns nothing useful, forgetUser drops them. */
type EndSessions = (trx: Db) => Promise<unknown>;

/**
 * Applies changes (and ends sessions in the same transaction when asked), then drops the user's cached
 * sessions, so its tokens are re-checked against the new row at once. A new address is unverified until its
 * link, mailed in the same transaction, is used.
 */
async function applyChanges(
  ctx: AppContext,
  id: string,
  changes: UserChanges,
  endSessions?: EndSessions,
): Promise<CurrentUser> {
  let user: CurrentUser | undefined;
  let mailed = false;
  try {
    user = await ctx.db.transaction().execute(async (trx) => {
      const before = changes.email === undefined ? undefined : await findUser(trx, id);
      const newEmail = before !== undefined && before.email !== changes.email;
      const updated = await updateUser(trx, id, newEmail ? { ...changes, email_verified: false } : changes);
      if (!updated) return updated;
      if (endSessions) await endSessions(trx);
      if (newEmail) {
        await queueVerificationMail(ctx, trx, updated);
        mailed = true;
      }
      return updated;
    });
  } catch (error) {
    if (error instanceof DuplicateEmail) throw emailTaken();
    throw error;
  }
  await forgetUser(ctx, id);
  if (mailed) mailer(ctx).afterCommit();
  if (!user) throw notFound('No user has this id.');
  return user;
}

/** Mails a new verification link to the caller's address (rate limited as login is); 409 once it is verified. */
export async function resendVerification(ctx: AppContext, user: CurrentUser, address: string): Promise<void> {
  if (user.email_verified) throw conflict('This address is already verified.');
  await countMailRequest(ctx, 'verification', user.id, address);
  await ctx.db.transaction().execute((trx) => queueVerificationMail(ctx, trx, user));
  mailer(ctx).afterCommit();
}

/**
 * A new email or password needs the current password: a stolen token alone must not take the account over.
 * Wrong guesses count against the login limits of the account and the address, so the token cannot be used
 * to guess the password faster than the login form allows.
 */
async function checkCurrentPassword(
  ctx: AppContext,
  user: CurrentUser,
  given: string | undefined,
  address: string,
) {
  if (given === undefined) {
    throw unprocessable('current_password is required to change the email or the password.', [
      { path: 'body.current_password', message: 'is required to change the email or the password' },
    ]);
  }
  await assertLoginAllowed(ctx, user.email, address);
  const hash = await findPasswordHash(ctx.db, user.id);
  if (!hash || !(await verifyPassword(given, hash))) {
    await recordLoginFailure(ctx, user.email, address);
    throw badRequest('current_password is incorrect.', [
      { path: 'body.current_password', message: 'is incorrect' },
    ]);
  }
}

export async function updateMe(
  ctx: AppContext,
  user: SignedInUser,
  input: UpdateMeInput,
  address: string,
): Promise<CurrentUser> {
  const newEmail = input.email !== undefined && input.email !== user.email;
  if (newEmail || input.password !== undefined) {
    await checkCurrentPassword(ctx, user, input.current_password, address);
  }
  const changes: UserChanges = {};
  if (input.full_name !== undefined) changes.full_name = input.full_name;
  if (newEmail) changes.email = input.email;
  if (input.password === undefined) return applyChanges(ctx, user.id, changes);
  changes.hashed_password = await hashPassword(input.password, ctx.config.auth.bcryptCost);
  // Whoever else holds a session (a stolen token, a forgotten laptop) is out; this session stays.
  return applyChanges(ctx, user.id, changes, (trx) =>
    endOtherSessions(trx, user.id, user.sessionId, 'password_change'),
  );
}

export async function administerUser(
  ctx: AppContext,
  actor: SignedInUser,
  id: string,
  input: UpdateUserInput,
): Promise<CurrentUser> {
  // The same rule as deletion: a superuser cannot lock itself out (possibly the last superuser).
  if (actor.id === id && (input.is_active === false || input.is_superuser === false)) {
    throw forbidden('A superuser cannot deactivate or demote itself; ask another superuser.');
  }
  const { password, ...rest } = input;
  const changes: UserChanges = { ...rest };
  if (password !== undefined)
    changes.hashed_password = await hashPassword(password, ctx.config.auth.bcryptCost);
  if (input.is_active === false)
    return applyChanges(ctx, id, changes, (trx) => endAllSessions(trx, id, 'deactivated'));
  // A new password set by a superuser ends the user's sessions (but the one making the change).
  if (password !== undefined)
    return applyChanges(ctx, id, changes, (trx) =>
      endOtherSessions(trx, id, actor.sessionId, 'password_change'),
    );
  return applyChanges(ctx, id, changes);
}

export async function readUser(ctx: AppContext, id: string): Promise<CurrentUser> {
  const user = await findUser(ctx.db, id);
  if (!user) throw notFound('No user has this id.');
  return user;
}

export async function removeUser(ctx: AppContext, actor: CurrentUser, id: string): Promise<void> {
  if (actor.id === id) throw forbidden('A superuser cannot delete itself; ask another superuser.');
  // The sessions go with the user (ON DELETE CASCADE): note which, to drop their cached entries after.
  const { deleted, sessions } = await ctx.db.transaction().execute(async (trx) => {
    const sessions = await unexpiredSessionIds(trx, id);
    return { deleted: await deleteUser(trx, id), sessions };
  });
  await forgetSessions(ctx, sessions);
  if (!deleted) throw notFound('No user has this id.');
}

/** A page of the caller's open sessions, newest first, the one of this request marked `current`. */
export async function listMySessions(ctx: AppContext, user: SignedInUser, query: Pagination) {
  return paginate(
    { secret: ctx.config.auth.secretKey, binding: { list: 'sessions', caller: `own:${user.id}` }, query },
    (window: PageWindow) => listOpenSessions(ctx.db, user.id, window),
    (row) => toSessionDto({ ...row, current: row.id === user.sessionId }),
  );
}

/** Ends one of the caller's sessions; someone else's, or one already ended, is a 404. */
export async function endMySession(ctx: AppContext, user: SignedInUser, sessionId: string): Promise<void> {
  const ended = await endSession(ctx.db, sessionId, 'ended_by_user', user.id);
  if (!ended) throw notFound('You have no open session with this id.');
  await forgetSessions(ctx, [sessionId]);
}
