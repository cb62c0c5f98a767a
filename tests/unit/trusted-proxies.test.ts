import proxyAddr from '@fastify/proxy-addr';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TRUST_PROXY, parseTrustProxy } from '../../shared/config.ts';
import { trustedProxies } from '../../shared/http/trusted-proxies.ts';

// shared/http/trusted-proxies.ts answers what proxy-addr (Fastify's own compiler of trust lists) would, from
// Node's BlockList. Both are asked the same questions here, proxy-addr being the reference.

const LISTS = [
  DEFAULT_TRUST_PROXY,
  'loopback',
  '10.0.0.0/8, fd00::/8, 192.168.1.7',
  '2001:db8::/32, 198.51.100.0/24',
  '::ffff:0:0/96',
  '::ffff:10.0.0.0/104',
  '::1',
  '127.0.0.1/32, 10.0.0.1',
];

// What a socket reports, what proxies write into X-Forwarded-For, and what a forger might.
const ADDRESSES = [
  '127.0.0.1',
  '127.255.255.254',
  '128.0.0.1',
  '::1',
  '::2',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:10.1.2.3',
  '10.1.2.3',
  '10.0.0.1',
  '172.16.5.4',
  '172.32.0.1',
  '192.168.0.1',
  '192.168.1.7',
  '192.168.1.8',
  '169.254.1.1',
  'fe80::1',
  'fc00::1',
  'fd00::5',
  'fe00::1',
  '1.2.3.4',
  '198.51.100.7',
  '2001:db8::1',
  '2001:db9::1',
  '::ffff:198.51.100.9',
  '0.0.0.0',
  '::',
  '255.255.255.255',
  'garbage',
  '',
  ' 1.2.3.4',
  '[::1]',
];

describe('trusted proxies (TRUST_PROXY as a list)', () => {
  it.each(LISTS)('trusts exactly the hops proxy-addr trusts for "%s"', (setting) => {
    const entries = parseTrustProxy(setting);
    if (!Array.isArray(entries)) throw new Error(`not a list: ${setting}`);
    const reference = proxyAddr.compile(entries);
    const trusts = trustedProxies(entries);
    const answers = ADDRESSES.map((address) => [address, trusts(address, 0)]);
    expect(answers).toEqual(ADDRESSES.map((address) => [address, reference(address, 0)]));
    // Not vacuous: every list trusts some of these addresses and distrusts others.
    expect(new Set(answers.map(([, trusted]) => trusted))).toEqual(new Set([true, false]));
  });

  it('refuses what ipaddr.js would read as an address but Node does not', () => {
    // "1.2.3" and "01.2.3.4" are legacy spellings: as a forged X-Forwarded-For entry they end the trusted chain.
    const trusts = trustedProxies(['1.0.0.0/8']);
    expect(trusts('1.2.3.4', 0)).toBe(true);
    expect(trusts('1.2.3', 0)).toBe(false);
    expect(trusts('01.2.3.4', 0)).toBe(false);
  });

  it('accepts a /0 range, which proxy-addr refuses', () => {
    const trusts = trustedProxies(['0.0.0.0/0']);
    expect(() => proxyAddr.compile(['0.0.0.0/0'])).toThrow(/invalid range/);
    expect(trusts('203.0.113.9', 0)).toBe(true);
    expect(trusts('::1', 0)).toBe(false);
  });
});
