import { type CurrentUser, forgetUser } from '../../shared/auth/current-user.ts';
import { hashPassword, verifyPassword } from '../../shared/auth/passwords.ts';
import { assertLoginAllowed, countMailRequest, recordLoginFailure } from '../../shared/cache/rate-limit.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { badRequest, conflict, forbidden, notFound, unprocessable } from '../../shared/http/errors.ts';
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
import type { SignUpInput, UpdateMeInput, UpdateUserInput } from './schemas.ts';

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

/**
 * Applies changes and drops the cached user, so its tokens are re-checked against the new row at once. A new
 * address is unverified until its link, mailed in the same transaction, is used.
 */
async function applyChanges(ctx: AppContext, id: string, changes: UserChanges): Promise<CurrentUser> {
  let user: CurrentUser | undefined;
  let mailed = false;
  try {
    user = await ctx.db.transaction().execute(async (trx) => {
      const before = changes.email === undefined ? undefined : await findUser(trx, id);
      const newEmail = before !== undefined && before.email !== changes.email;
      const updated = await updateUser(trx, id, newEmail ? { ...changes, email_verified: false } : changes);
      if (updated && newEmail) {
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
  user: CurrentUser,
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
  if (input.password !== undefined)
    changes.hashed_password = await hashPassword(input.password, ctx.config.auth.bcryptCost);
  return applyChanges(ctx, user.id, changes);
}

export async function administerUser(
  ctx: AppContext,
  actor: CurrentUser,
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
  return applyChanges(ctx, id, changes);
}

export async function readUser(ctx: AppContext, id: string): Promise<CurrentUser> {
  const user = await findUser(ctx.db, id);
  if (!user) throw notFound('No user has this id.');
  return user;
}

export async function removeUser(ctx: AppContext, actor: CurrentUser, id: string): Promise<void> {
  if (actor.id === id) throw forbidden('A superuser cannot delete itself; ask another superuser.');
  const deleted = await deleteUser(ctx.db, id);
  await forgetUser(ctx, id);
  if (!deleted) throw notFound('No user has this id.');
}
