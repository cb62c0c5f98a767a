import { forgetSessions } from '../../shared/auth/current-user.ts';
import { type IssuedSession, rotateRefreshToken } from '../../shared/auth/session-store.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { oauthError } from './oauth-errors.ts';

/**
 * The refresh_token grant: spends the token and gives its successor. A spent token presented again (after the
 * grace window) ends its whole session, so a stolen token is worth one use at most, and whoever used it
 * second (thief or owner) finds out.
 */
export async function refresh(
  ctx: AppContext,
  token: string,
  /** Headers for the refusal (the cookie mode clears its cookie). */
  refusalHeaders: Record<string, string> = {},
): Promise<IssuedSession> {
  const result = await rotateRefreshToken(ctx.db, token, ctx.config.auth.secretKey);
  if (result.outcome === 'rotated') return result;
  if (result.outcome === 'replayed') {
    await forgetSessions(ctx, [result.sessionId]);
    ctx.log.warn(
      { session_id: result.sessionId, user_id: result.userId },
      'spent refresh token presented again: session ended',
    );
    throw oauthError(
      400,
      'invalid_grant',
      'The refresh token was already used: its session has ended. Log in again.',
      refusalHeaders,
    );
  }
  throw oauthError(
    400,
    'invalid_grant',
    'The refresh token is unknown, or its session has ended or expired. Log in again.',
    refusalHeaders,
  );
}
