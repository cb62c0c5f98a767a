import { BlockList } from 'node:net';

/** The ranges TRUST_PROXY accepts by name: proxy-addr's, which Fastify documents. */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  loopback: ['127.0.0.1/8', '::1/128'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const familyOf = (address: string) => (address.includes(':') ? 'ipv6' : 'ipv4');

/**
 * Fastify's `trustProxy` for a list of addresses, CIDR ranges and range names (as parseTrustProxy checked
 * them): whether the hop at `address` is believed about the address before it. Given a list, Fastify would
 * compile it with proxy-addr when the app is made, parsing every range with ipaddr.js's regular expressions
 * (≈ 1 ms of every cold start); Node's native BlockList answers the same, and is built on the first question.
 * It is stricter with odd spellings ("1.2.3", "01.2.3.4" are no address, so never a trusted hop) and accepts
 * /0; an IPv6 range that spans the IPv4-mapped block (::ffff:0:0/96) covers IPv4 addresses too.
 */
export function trustedProxies(entries: readonly string[]): (address: string, hop: number) => boolean {
  let trusted: BlockList | undefined;
  const build = () => {
    const list = new BlockList();
    for (const entry of entries.flatMap((name) => NAMED_RANGES[name] ?? [name])) {
      const [address = '', bits] = entry.split('/');
      if (bits === undefined) list.addAddress(address, familyOf(address));
      else list.addSubnet(address, Number(bits), familyOf(address));
    }
    return list;
  };
  return (address) => {
    trusted ??= build();
    return trusted.check(address, familyOf(address));
  };
}
