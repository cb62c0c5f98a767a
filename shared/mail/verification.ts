import { issueEmailToken } from '../auth/email-tokens.ts';
import type { Db } from '../db/index.ts';
import type { AppContext } from '../http/context.ts';
import { frontendLink, mailer } from './index.ts';
import { verifyEmailMail } from './templates/verify-email.ts';

/**
 * Writes a verification link for the user's (new) address, with its mail, in `trx`: the transaction that signs
 * the user up or changes the address. Call `mailer(ctx).afterCommit()` once it committed.
 */
export async function queueVerificationMail(
  ctx: AppContext,
  trx: Db,
  user: { id: string; email: string },
): Promise<void> {
  const hours = ctx.config.mail.verifyTokenHours;
  const token = await issueEmailToken(trx, 'verify', user, hours);
  const content = verifyEmailMail({
    projectName: ctx.config.mail.from.name,
    email: user.email,
    link: frontendLink(ctx, '/verify-email', token),
    hours,
  });
  await mailer(ctx).record(trx, { to: user.email, ...content });
}
