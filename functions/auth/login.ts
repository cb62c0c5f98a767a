import { dummyHash, verifyPassword } from '../../shared/auth/passwords.ts';
import { issueAccessToken } from '../../shared/auth/tokens.ts';
import { assertLoginAllowed, clearLoginFailures, recordLoginFailure } from '../../shared/cache/rate-limit.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { badRequest } from '../../shared/http/errors.ts';
import { findLoginUser } from './repository.ts';

export const WRONG_CREDENTIALS = 'Incorrect email or password.';

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
}

/**
 * The password grant. An unknown email and a wrong password give the same 400 after the same work: one
 * database lookup and one bcrypt comparison (against a dummy hash of the configured cost when there is no
 * user), so neither the answer nor its timing tells whether an account exists.
 */
export async function logIn(
  ctx: AppContext,
  email: string,
  password: string,
  address: string,
): Promise<TokenResponse> {
  await assertLoginAllowed(ctx, email, address);
  const user = await findLoginUser(ctx.db, email);
  const matches = await verifyPassword(
    password,
    user?.hashed_password ?? dummyHash(ctx.config.auth.bcryptCost),
  );
  if (!user || !matches) {
    await recordLoginFailure(ctx, email, address);
    throw badRequest(WRONG_CREDENTIALS);
  }
  // Only someone who knows the password learns the account is inactive.
  if (!user.is_active) throw badRequest('This account is inactive.');
  await clearLoginFailures(ctx, email);
  const { token, expiresIn } = await issueAccessToken(ctx.config, user.id);
  return { access_token: token, token_type: 'bearer', expires_in: expiresIn };
}
