import { createPrivateKey, createPublicKey, type KeyObject, randomUUID } from 'node:crypto';
import type { JWK } from 'jose';
import type { Config } from '../config.ts';
import { VerifiedTokens } from './verified-tokens.ts';

/**
 * Access tokens. HS256 with SECRET_KEY by default; with JWT_PRIVATE_KEY (Ed25519 or RSA) tokens are signed
 * with it and its public half is published as a JWKS, so other functions (JWT_PUBLIC_KEY) and Istio verify
 * without any secret. Verification pins the algorithm, the issuer and the audience. jose is imported when a
 * token is first signed or verified, so a cold start that answers without one never loads it.
 */

type Algorithm = 'HS256' | 'EdDSA' | 'RS256';

interface TokenKeys {
  alg: Algorithm;
  signKey: KeyObject | CryptoKey | undefined;
  verifyKey: KeyObject | CryptoKey;
  kid: string | undefined;
  publicJwk: JWK | undefined;
}

export interface AccessTokenClaims {
  sub: string;
  /** The session the token belongs to: when it ends, every function refuses the token. */
  sid: string;
  jti: string;
  iat: number;
  exp: number;
}

export class TokenError extends Error {
  constructor(readonly reason: 'expired' | 'invalid') {
    super(reason === 'expired' ? 'The token has expired.' : 'The token is invalid.');
    this.name = 'TokenError';
  }
}

function algorithmOf(key: KeyObject): Algorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new Error(`JWT keys must be Ed25519 or RSA, not ${key.asymmetricKeyType}`);
}

const keyCache = new WeakMap<Config, Promise<TokenKeys>>();

/** A key pair (Ed25519 or RSA) is configured; otherwise tokens are HS256 with the shared secret. */
const hasKeyPair = (config: Config) => Boolean(config.auth.jwtPrivateKey || config.auth.jwtPublicKey);

async function makeKeys(config: Config): Promise<TokenKeys> {
  const { jwtPrivateKey, jwtPublicKey, secretKey } = config.auth;
  if (hasKeyPair(config)) {
    const privateKey = jwtPrivateKey ? createPrivateKey(jwtPrivateKey) : undefined;
    const publicKey = privateKey ? createPublicKey(privateKey) : createPublicKey(jwtPublicKey as string);
    const { calculateJwkThumbprint, exportJWK } = await import('jose');
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const alg = algorithmOf(publicKey);
    return {
      alg,
      signKey: privateKey,
      verifyKey: publicKey,
      kid,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
    };
  }
  // Imported once: given raw bytes, jose imports a WebCrypto key on every sign and verify, which was the largest
  // cost of an authenticated request (tests/bench/RESULTS.md).
  const secret = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secretKey),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign', 'verify'],
  );
  return { alg: 'HS256', signKey: secret, verifyKey: secret, kid: undefined, publicJwk: undefined };
}

function keysFor(config: Config): Promise<TokenKeys> {
  let keys = keyCache.get(config);
  if (!keys) {
    keys = makeKeys(config);
    keyCache.set(config, keys);
  }
  return keys;
}

/**
 * An access token of one session. It never outlives its session: `sessionSecondsLeft` caps its lifetime.
 */
export async function issueAccessToken(
  config: Config,
  userId: string,
  sessionId: string,
  sessionSecondsLeft = Number.POSITIVE_INFINITY,
): Promise<{ token: string; expiresIn: number }> {
  const keys = await keysFor(config);
  if (!keys.signKey)
    throw new Error('this function has only a public key (JWT_PUBLIC_KEY); it cannot sign tokens');
  const expiresIn = Math.max(1, Math.min(config.auth.accessTokenExpireMinutes * 60, sessionSecondsLeft));
  const { SignJWT } = await import('jose');
  const token = await new SignJWT({ sid: sessionId })
    .setProtectedHeader({ alg: keys.alg, typ: 'JWT', ...(keys.kid && { kid: keys.kid }) })
    .setSubject(userId)
    .setIssuer(config.auth.issuer)
    .setAudience(config.auth.audience)
    .setIssuedAt()
    .setExpirationTime(`${expiresIn}s`)
    .setJti(randomUUID())
    .sign(keys.signKey);
  return { token, expiresIn };
}

const REQUIRED_CLAIMS = ['sub', 'sid', 'exp', 'iat', 'jti'] as const;

/** A compact JWS in unpadded base64url (RFC 7515), the only spelling we issue; jose also decodes padded forms. */
const COMPACT_JWS = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/** Per config, since its keys decide what verifies (tests run several in one process). */
const verifiedTokens = new WeakMap<Config, VerifiedTokens<AccessTokenClaims>>();

export async function verifyAccessToken(config: Config, token: string): Promise<AccessTokenClaims> {
  let verified = verifiedTokens.get(config);
  if (!verified) {
    verified = new VerifiedTokens();
    verifiedTokens.set(config, verified);
  }
  const known = verified.get(token);
  if (known) return known;
  if (!COMPACT_JWS.test(token)) throw new TokenError('invalid');
  const keys = await keysFor(config);
  const { errors, jwtVerify } = await import('jose');
  try {
    const { payload } = await jwtVerify(token, keys.verifyKey, {
      algorithms: [keys.alg],
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      requiredClaims: [...REQUIRED_CLAIMS],
    });
    const claims = payload as unknown as AccessTokenClaims;
    verified.add(token, claims);
    return claims;
  } catch (error) {
    if (error instanceof errors.JWTExpired) throw new TokenError('expired');
    throw new TokenError('invalid');
  }
}

/** The public keys for /api/auth/jwks.json: empty when only the shared HS256 secret is configured. */
export async function publicJwks(config: Config): Promise<{ keys: JWK[] }> {
  // A shared secret (HS256) has no public half: nothing to make, nor WebCrypto to load, for an empty set.
  if (!hasKeyPair(config)) return { keys: [] };
  const keys = await keysFor(config);
  return { keys: keys.publicJwk ? [keys.publicJwk] : [] };
}
