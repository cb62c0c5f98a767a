import { sql } from 'kysely';
import { forgetUser } from '../../shared/auth/current-user.ts';
import { issueEmailToken, spendAllEmailTokens, spendEmailToken } from '../../shared/auth/email-tokens.ts';
import { hashPassword } from '../../shared/auth/passwords.ts';
import { endAllSessions } from '../../shared/auth/session-store.ts';
import { countMailRequest } from '../../shared/cache/rate-limit.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { badRequest } from '../../shared/http/errors.ts';
import { frontendLink, mailer } from '../../shared/mail/index.ts';
import { resetPasswordMail } from '../../shared/mail/templates/reset-password.ts';
import { findRecoveryUser } from './repository.ts';

/**
 * Password recovery and address verification by mailed links. Recovery answers the same, in the same time,
 * whether or not an account has the address: the request counts against the limits (which depend only on what
 * was sent), and everything that depends on the account (finding it, a token, the mail) runs after the answer.
 */

const invalidToken = (what: string) =>
  badRequest(`The ${what} link is invalid, expired or already used; ask for a new one.`, [
    { path: 'body.token', message: 'is invalid, expired or already used' },
  ]);

/** Counts the request; the caller answers 202 and then runs `mailResetLink` after the response. */
export async function countRecoveryRequest(ctx: AppContext, email: string, address: string): Promise<void> {
  await countMailRequest(ctx, 'recovery', email, address);
}

/** Writes a reset link and its mail when an active account has this address; nothing otherwise. */
export async function mailResetLink(ctx: AppContext, email: string): Promise<void> {
  const mail = mailer(ctx);
  const queued = await ctx.db.transaction().execute(async (trx) => {
    const user = await findRecoveryUser(trx, email);
    if (!user?.is_active) return false;
    const hours = ctx.config.mail.resetTokenHours;
    const token = await issueEmailToken(trx, 'reset', { id: user.id, email: user.email }, hours);
    const content = resetPasswordMail({
      projectName: ctx.config.mail.from.name,
      email: user.email,
      link: frontendLink(ctx, '/reset-password', token),
      hours,
    });
    await mail.record(trx, { to: user.email, ...content });
    return true;
  });
  if (queued) mail.afterCommit();
}

/**
 * Spends the token, sets the new password and ends every session of the user, in one transaction. Older reset
 * links stop working, and the address counts as verified (the link reached it).
 */
export async function resetPassword(ctx: AppContext, token: string, newPassword: string): Promise<void> {
  const hashed = await hashPassword(newPassword, ctx.config.auth.bcryptCost);
  const userId = await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendEmailToken(trx, 'reset', token);
    if (!spent) throw invalidToken('reset');
    await trx
      .updateTable('user')
      .set({ hashed_password: hashed, email_verified: true, updated_at: sql<string>`now()` })
      .where('id', '=', spent.userId)
      .execute();
    await spendAllEmailTokens(trx, spent.userId, 'reset');
    // Whoever knew the old password is signed out everywhere, in the same transaction as the new password.
    await endAllSessions(trx, spent.userId, 'password_reset');
    return spent.userId;
  });
  // After commit (dropped earlier, a concurrent request could cache the old row again): every session's
  // cached entry goes, so its access tokens stop working at once.
  await forgetUser(ctx, userId);
}

/** Spends a verification token: its user's address counts as verified. */
export async function verifyEmail(ctx: AppContext, token: string): Promise<void> {
  const userId = await ctx.db.transaction().execute(async (trx) => {
    const spent = await spendEmailToken(trx, 'verify', token);
    if (!spent) throw invalidToken('verification');
    await trx
      .updateTable('user')
      .set({ email_verified: true, updated_at: sql<string>`now()` })
      .where('id', '=', spent.userId)
      .execute();
    return spent.userId;
  });
  await forgetUser(ctx, userId);
}
