import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../shared/http/request-id.ts';

describe('newRequestId', () => {
  it('makes version 4 UUIDs', () => {
    for (let i = 0; i < 1000; i++) {
      expect(newRequestId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('does not repeat itself', () => {
    const ids = new Set(Array.from({ length: 100_000 }, newRequestId));
    expect(ids.size).toBe(100_000);
  });
});
