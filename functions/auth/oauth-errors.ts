import { HttpError } from '../../shared/http/errors.ts';

/** The RFC 6749 §5.2 error codes the token and revocation endpoints answer with. */
export type OAuthErrorCode = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type';

/** A problem+json that also carries RFC 6749's `error` member, so OAuth2 client libraries understand it. */
export function oauthError(
  status: number,
  error: OAuthErrorCode,
  detail: string,
  headers: Record<string, string> = {},
): HttpError {
  return new HttpError(status, detail, {
    headers,
    members: { error },
  });
}

/**
 * The token and revocation endpoints' `problemMembers`: every client error without a code of its own (a 422
 * for a missing field, a 415) is an `invalid_request`. Rate limits and outages keep the plain problem.
 */
export function oauthProblemMembers(status: number): Record<string, string> | undefined {
  return status >= 400 && status < 500 && status !== 429 ? { error: 'invalid_request' } : undefined;
}
