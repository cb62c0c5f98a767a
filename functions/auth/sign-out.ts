import { forgetSessions } from '../../shared/auth/current-user.ts';
import { type EndReason, endSession, sessionOfRefreshToken } from '../../shared/auth/session-store.ts';
import { TokenError, verifyAccessToken } from '../../shared/auth/tokens.ts';
import type { AppContext } from '../../shared/http/context.ts';

/** Ends a session and drops its cached entry, so its access tokens are refused at once by every function. */
export async function endSessionNow(ctx: AppContext, sessionId: string, reason: EndReason): Promise<void> {
  await endSession(ctx.db, sessionId, reason);
  await forgetSessions(ctx, [sessionId]);
}

/**
 * RFC 7009: whatever token is given, the answer is the same; a refresh token (spent or not), or one of our
 * access tokens, ends its session. The hint only says which lookup to try first, as the RFC allows.
 */
export async function revoke(ctx: AppContext, token: string, hint: string | undefined): Promise<void> {
  const lookups = [() => sessionOfRefreshToken(ctx.db, token), () => sessionOfAccessToken(ctx, token)];
  if (hint === 'access_token') lookups.reverse();
  for (const lookup of lookups) {
    const session = await lookup();
    if (session) {
      await endSessionNow(ctx, session.sessionId, 'revoked');
      return;
    }
  }
}

async function sessionOfAccessToken(ctx: AppContext, token: string) {
  // Only something shaped like a JWT is worth verifying.
  if (token.split('.').length !== 3) return undefined;
  try {
    const claims = await verifyAccessToken(ctx.config, token);
    return typeof claims.sid === 'string' && /^[0-9a-f-]{36}$/i.test(claims.sid)
      ? { sessionId: claims.sid.toLowerCase() }
      : undefined;
  } catch (error) {
    if (error instanceof TokenError) return undefined;
    throw error;
  }
}
