/**
 * Access tokens already verified (signature, algorithm, issuer, audience, claims), kept until they expire. A
 * client sends the same token with every request, and verifying it again through WebCrypto is the largest cost
 * of a cheap request. Only the exact token string hits, so a token changed in any byte is verified in full; what
 * can end a token early (its session) is checked apart, on every request. Bounded: the oldest entry goes first.
 */
export class VerifiedTokens<T extends { exp: number }> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly maxEntries = 5_000) {}

  /** The claims of a token verified before, or undefined: unknown, or expired since (then forgotten). */
  get(token: string, nowSeconds = Math.floor(Date.now() / 1000)): T | undefined {
    const claims = this.entries.get(token);
    if (claims === undefined) return undefined;
    // As jose judges it: a token is expired from its `exp` second on.
    if (claims.exp <= nowSeconds) {
      this.entries.delete(token);
      return undefined;
    }
    return claims;
  }

  add(token: string, claims: T): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(token, claims);
  }
}
