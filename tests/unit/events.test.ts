import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { toBinaryMessage } from '../../shared/events/cloudevent.ts';
import { PaginationQuery } from '../../shared/http/pagination.ts';
import { retryDelayMs } from '../../shared/outbox/relay.ts';

describe('retryDelayMs', () => {
  it('doubles per attempt up to the maximum, with jitter between half and all of it', () => {
    expect(retryDelayMs(1, 500, 30_000, () => 0)).toBe(250);
    expect(retryDelayMs(1, 500, 30_000, () => 1)).toBe(500);
    expect(retryDelayMs(4, 500, 30_000, () => 1)).toBe(4_000);
    expect(retryDelayMs(4, 500, 30_000, () => 0)).toBe(2_000);
    expect(retryDelayMs(20, 500, 30_000, () => 1)).toBe(30_000);
    expect(retryDelayMs(1_000, 500, 30_000, () => 0.5)).toBe(22_500);
  });

  it('spreads retries of many events rather than synchronising them', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, 500, 30_000)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) expect(delay).toBeGreaterThanOrEqual(1_000);
  });
});

describe('toBinaryMessage', () => {
  it('puts the attributes in ce- headers and the data, as JSON, in the body', () => {
    const message = toBinaryMessage({
      id: 'e1',
      type: 'com.example.items.created',
      source: '/api/items',
      subject: 'i1',
      time: '2024-01-02T03:04:05.000Z',
      data: { id: 'i1', title: 'x' },
    });
    expect(message.headers).toEqual({
      'ce-specversion': '1.0',
      'ce-id': 'e1',
      'ce-type': 'com.example.items.created',
      'ce-source': '/api/items',
      'ce-subject': 'i1',
      'ce-time': '2024-01-02T03:04:05.000Z',
      'content-type': 'application/json',
    });
    expect(message.body).toBe('{"id":"i1","title":"x"}');
  });
});

describe('PaginationQuery', () => {
  it('defaults to skip 0 and limit 100, and reads numbers from query strings', () => {
    expect(v.parse(PaginationQuery, {})).toEqual({ skip: 0, limit: 100 });
    expect(v.parse(PaginationQuery, { skip: '20', limit: '0' })).toEqual({ skip: 20, limit: 0 });
  });

  it('rejects what is not a whole number in range', () => {
    for (const query of [
      { limit: '1001' },
      { limit: '-1' },
      { skip: '1e3' },
      { skip: ['1', '2'] },
      { limit: ' 5' },
    ]) {
      expect(v.safeParse(PaginationQuery, query).success, JSON.stringify(query)).toBe(false);
    }
  });
});
