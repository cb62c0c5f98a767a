import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseTrustProxy } from '../../shared/config.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { startTestServer, type TestServer, testEnv } from '../support/app.ts';

// request.ip is what the per-address and login limits count by, so who may set it matters.
const echo: FunctionDefinition = {
  name: 'echo',
  prefixes: ['/api/echo'],
  routes: [
    defineRoute({
      method: 'GET',
      url: '/api/echo/ip',
      operationId: 'echo_ip',
      summary: 'The client address as the app sees it',
      responses: { 200: { description: 'the address' } },
      async handler({ request }) {
        return { ip: request.ip };
      },
    }),
  ],
};

describe('TRUST_PROXY', () => {
  it('accepts booleans, hop counts and address lists, and names what is wrong', () => {
    expect(parseTrustProxy('true')).toBe(true);
    expect(parseTrustProxy('FALSE')).toBe(false);
    expect(parseTrustProxy('2')).toBe(2);
    expect(parseTrustProxy(' loopback, 10.0.0.0/8 ,fd00::/8,192.168.1.7 ')).toEqual([
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.168.1.7',
    ]);
    expect(loadConfig(testEnv()).trustProxy).toEqual(['loopback', 'linklocal', 'uniquelocal']);
    expect(() => loadConfig(testEnv({ TRUST_PROXY: '10.0.0.0/33' }))).toThrow(ConfigError);
    expect(() => loadConfig(testEnv({ TRUST_PROXY: 'everyone' }))).toThrow(
      /TRUST_PROXY: "everyone" is not an address/,
    );
  });

  describe('by default (private hops trusted)', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer([echo]);
    });
    afterAll(() => server?.stop());

    it('takes the nearest public address of X-Forwarded-For, which a client cannot forge', async () => {
      // What a client sent itself comes first; the mesh appends the address it really came from.
      const headers = { 'x-forwarded-for': '1.2.3.4, 198.51.100.7, 10.1.2.3' };
      expect(await (await server.api('/api/echo/ip', { headers })).json()).toEqual({ ip: '198.51.100.7' });
      expect(await (await server.api('/api/echo/ip')).json()).toEqual({ ip: '127.0.0.1' });
    });
  });

  describe('when false', () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer([echo], { TRUST_PROXY: 'false' });
    });
    afterAll(() => server?.stop());

    it('ignores X-Forwarded-For', async () => {
      const headers = { 'x-forwarded-for': '198.51.100.7' };
      expect(await (await server.api('/api/echo/ip', { headers })).json()).toEqual({ ip: '127.0.0.1' });
    });
  });
});
