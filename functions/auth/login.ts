import { dummyHash, verifyPassword } from '../../shared/auth/passwords.ts';
import { createSession, type IssuedSession } from '../../shared/auth/session-store.ts';
import { assertLoginAllowed, clearLoginFailures, recordLoginFailure } from '../../shared/cache/rate-limit.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { oauthError } from './oauth-errors.ts';
import { findLoginUser } from './repository.ts';

export const WRONG_CREDENTIALS = 'Incorrect email or password.';

export interface Client {
  address: string;
  userAgent: string | undefined;
}

/**
 * The password grant: a new session. An unknown email and a wrong password give the same 400 after the same
 * work: one database lookup and one bcrypt comparison (against a dummy hash of the configured cost when there
 * is no user), so neither the answer nor its timing tells whether an account exists.
 */
export async function logIn(
  ctx: AppContext,
  email: string,
  password: string,
  client: Client,
): Promise<IssuedSession> {
  await assertLoginAllowed(ctx, email, client.address);
  const user = await findLoginUser(ctx.db, email);
  const matches = await verifyPassword(
    password,
    user?.hashed_password ?? dummyHash(ctx.config.auth.bcryptCost),
  );
  if (!user || !matches) {
    await recordLoginFailure(ctx, email, client.address);
    throw oauthError(400, 'invalid_grant', WRONG_CREDENTIALS);
  }
  // Only someone who knows the password learns the account is inactive.
  if (!user.is_active) throw oauthError(400, 'invalid_grant', 'This account is inactive.');
  await clearLoginFailures(ctx, email);
  const session = await createSession(ctx.db, {
    userId: user.id,
    lifetimeDays: ctx.config.auth.refreshTokenExpireDays,
    userAgent: client.userAgent,
    clientAddress: client.address,
  });
  return session;
}
