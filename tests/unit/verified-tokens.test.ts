import { describe, expect, it } from 'vitest';
import { VerifiedTokens } from '../../shared/auth/verified-tokens.ts';

describe('verified tokens', () => {
  it('answer a token verified before, until its exp second, then forget it', () => {
    const verified = new VerifiedTokens<{ exp: number }>();
    verified.add('a.b.c', { exp: 100 });
    expect(verified.get('a.b.c', 99)).toEqual({ exp: 100 });
    expect(verified.get('a.b.C', 99)).toBeUndefined();
    expect(verified.get('a.b.c', 100)).toBeUndefined();
    expect(verified.get('a.b.c', 50)).toBeUndefined();
  });

  it('keep at most their bound, dropping the oldest first', () => {
    const verified = new VerifiedTokens<{ exp: number }>(2);
    verified.add('one', { exp: 100 });
    verified.add('two', { exp: 100 });
    verified.add('three', { exp: 100 });
    expect([verified.get('one', 0), verified.get('two', 0), verified.get('three', 0)]).toEqual([
      undefined,
      { exp: 100 },
      { exp: 100 },
    ]);
  });
});
