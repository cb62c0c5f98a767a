import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { type RawRequest, rawRequest } from '../support/raw-http.ts';
import { openSocket, readUntilClosed } from '../support/raw-socket.ts';

// Every answer carries x-request-id (the caller's when it sent a sensible one) and is problem+json when it is
// an error, however early it is given: by Fastify before routing, by Node's HTTP parser, by a hook.

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer(allFunctions);
});
afterAll(() => server.stop());

const GIVEN = 'client-chosen-id-42';

const EARLY: [string, number, RawRequest][] = [
  ['malformed percent-encoding', 400, { method: 'GET', path: '/api/items/%E0%A4%A' }],
  [
    'an expectation other than 100-continue',
    417,
    { method: 'GET', path: '/api/health/live', headers: { expect: 'x-magic' } },
  ],
  [
    'a body declared over 1 MiB',
    413,
    {
      method: 'POST',
      path: '/api/users/',
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(1024 * 1024 + 1, 32),
    },
  ],
  [
    'an unsupported media type',
    415,
    { method: 'POST', path: '/api/users/', headers: { 'content-type': 'text/csv' }, body: 'a,b' },
  ],
  [
    'malformed JSON',
    400,
    { method: 'POST', path: '/api/users/', headers: { 'content-type': 'application/json' }, body: '{"a":' },
  ],
  ['a method the path does not take', 405, { method: 'DELETE', path: '/api/auth/token' }],
  ['an unknown path', 404, { method: 'GET', path: '/api/nowhere' }],
];

describe('x-request-id', () => {
  it.each(EARLY)('is on the problem+json answer to %s', async (_name, status, request) => {
    for (const headers of [{}, { 'x-request-id': GIVEN }] as Record<string, string>[]) {
      const response = await rawRequest(server.url, {
        ...request,
        headers: { ...request.headers, ...headers },
      });
      expect(response.status).toBe(status);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(JSON.parse(response.body)).toMatchObject({ status, detail: expect.any(String) });
      if ('x-request-id' in headers) expect(response.headers['x-request-id']).toBe(GIVEN);
      else expect(response.headers['x-request-id']).toMatch(/^[\w-]{16,}$/);
    }
  });

  it('is on the answers of Node’s HTTP parser (headers too large, a garbled request line)', async () => {
    const tooLarge = await exchange(
      `GET /api/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(tooLarge).toMatch(/^HTTP\/1\.1 431 /);
    const garbled = await exchange('GET /api/health/live HTTP/9.9 junk\r\n\r\n');
    expect(garbled).toMatch(/^HTTP\/1\.1 400 /);
    // HEAD's answer is its headers alone: a body after them would be read as the next response.
    const headTooLarge = await exchange(
      `HEAD /api/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(headTooLarge).toMatch(/^HTTP\/1\.1 431 /);
    expect(headTooLarge.endsWith('\r\n\r\n')).toBe(true);
    // Headers spanning several packets: the parser reports the overflow with a later packet.
    const served = new Promise<Socket>((resolve) => server.app.server.once('connection', resolve));
    const socket = await openSocket(server.url);
    const answer = readUntilClosed(socket);
    const first = `GET /api/health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1_000)}`;
    socket.write(first);
    const serverSide = await served;
    while (serverSide.bytesRead < first.length) await sleep(5);
    socket.write(`${'a'.repeat(20_000)}\r\n\r\n`);
    const spanning = await answer;
    expect(spanning).toMatch(/^HTTP\/1\.1 431 /);
    expect(spanning).toContain('"status":431');
    for (const answer of [tooLarge, garbled, spanning]) {
      expect(answer).toMatch(/\r\nx-request-id: [\w-]{16,}\r\n/i);
      expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    }
  });

  it('is on the 503 of a request that arrives while the server closes', async () => {
    const closing = await startTestServer(allFunctions);
    const socket = await openSocket(closing.url);
    // A request under way (its first bytes read) keeps the connection through close(), as on a busy keep-alive.
    socket.write('GET /api/health/live HTTP/1.1\r\n');
    await sleep(50);
    const stopped = closing.stop();
    while (closing.app.server.listening) await sleep(5);
    const answer = readUntilClosed(socket);
    socket.write('Host: x\r\n\r\n');
    const text = await answer;
    await stopped;
    expect(text).toMatch(/^HTTP\/1\.1 503 /);
    expect(text).toMatch(/\r\nx-request-id: [\w-]{16,}\r\n/i);
    expect(text).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(text).toMatch(/\r\nretry-after: 1\r\n/i);
  });
});

async function exchange(raw: string): Promise<string> {
  const socket = await openSocket(server.url);
  const answer = readUntilClosed(socket);
  socket.write(raw);
  return answer;
}
