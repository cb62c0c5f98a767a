import { describe, expect, it } from 'vitest';
import { concurrencyLimit, hashPassword, verifyPassword } from '../../shared/auth/passwords.ts';

describe('concurrencyLimit (how many bcrypt runs share the CPU with the event loop)', () => {
  it('never runs more than its limit at once, and runs every task in arrival order', async () => {
    const run = concurrencyLimit(2);
    let active = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (id: number) =>
      run(async () => {
        started.push(id);
        active += 1;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active -= 1;
        return id;
      });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(task));
    expect(results).toEqual([1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(2);
    expect(started).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('frees the slot of a task that throws', async () => {
    const run = concurrencyLimit(1);
    await expect(run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await run(async () => 'next')).toBe('next');
  });

  it('still hashes and verifies through the limit', async () => {
    const hashes = await Promise.all(
      ['a-password', 'b-password', 'c-password'].map((p) => hashPassword(p, 4)),
    );
    expect(await verifyPassword('b-password', hashes[1]!)).toBe(true);
    expect(await verifyPassword('b-password', hashes[0]!)).toBe(false);
  });
});
