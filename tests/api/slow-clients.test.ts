import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFunctions } from '../../functions/registry.ts';
import { startTestServer, type TestServer } from '../support/app.ts';
import { openSocket, readUntilClosed } from '../support/raw-socket.ts';
import { slowFunction } from '../support/slow-function.ts';

// Clients that send a request slowly, or never finish it (slowloris, slow POST bodies), are answered 408 and
// their connection is closed, over real sockets. The bounds are shortened here (shared/http/connection-timeouts.ts
// holds the real ones); nothing is timed: each test waits for the server to close the connection, and only the
// test's own timeout guards against a server that never does.

const TIMEOUTS = { headersMs: 400, requestMs: 800, checkIntervalMs: 50 };
const HANG_GUARD_MS = 15_000;

const slow = slowFunction();

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer([...allFunctions, slow], {}, { timeouts: TIMEOUTS });
});
afterAll(() => server?.stop());

const open = (allowHalfOpen = false) => openSocket(server.url, { allowHalfOpen });

/** Sends `first`, then `more` every 100 ms while the connection is open, the way slowloris keeps one busy. */
async function trickle(first: string, more?: (n: number) => string): Promise<string> {
  const socket = await open();
  const answer = readUntilClosed(socket);
  socket.write(first);
  let n = 0;
  const timer = more
    ? setInterval(() => {
        n += 1;
        if (socket.writable) socket.write(more(n));
      }, 100)
    : undefined;
  try {
    return await answer;
  } finally {
    clearInterval(timer);
  }
}

function expect408(answer: string) {
  expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  expect(answer).toMatch(/\r\ncontent-type: application\/problem\+json/i);
  expect(answer).toMatch(/\r\nx-request-id: [\w-]{16,}\r\n/i);
  expect(answer).toMatch(/\r\nconnection: close\r\n/i);
  const [, body] = answer.split('\r\n\r\n');
  expect(JSON.parse(body ?? '')).toMatchObject({ status: 408, detail: expect.any(String) });
}

describe('slow clients', () => {
  it(
    'a request line that never ends: 408 problem+json, then the connection is closed',
    async () => {
      expect408(await trickle('GET /api/health/li'));
    },
    HANG_GUARD_MS,
  );

  it(
    'headers sent a line at a time without end (slowloris): 408, then closed',
    async () => {
      expect408(await trickle('GET /api/health/live HTTP/1.1\r\nHost: x\r\n', (n) => `X-Drip-${n}: x\r\n`));
    },
    HANG_GUARD_MS,
  );

  it(
    'a body sent a byte at a time that never reaches its length (slow POST): 408, closed, and no user made',
    async () => {
      const email = `slow-${randomUUID()}@example.com`;
      const body = JSON.stringify({ email, password: 'a-long-enough-password' });
      const answer = await trickle(
        'POST /api/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length + 10_000}\r\n\r\n${body}`,
        // JSON allows trailing whitespace: every byte keeps the body valid and the request unfinished.
        () => ' ',
      );
      expect408(answer);
      const users = await server.ctx.db.selectFrom('user').select('id').where('email', '=', email).execute();
      expect(users).toEqual([]);
    },
    HANG_GUARD_MS,
  );

  it(
    'a body finished only once its 408 has arrived is never read: no user made',
    async () => {
      const email = `late-${randomUUID()}@example.com`;
      const body = JSON.stringify({ email, password: 'a-long-enough-password' });
      const received = new Promise<IncomingMessage>((resolve) => server.app.server.once('request', resolve));
      const socket = await open(true);
      let text = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      socket.on('error', () => {});
      socket.write(
        'POST /api/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Content-Length: ${body.length}\r\n\r\n${body.slice(0, -1)}`,
      );
      // The last byte goes as soon as the 408 is read, the client keeping its side open (as an attacker may): a
      // server still reading would complete the request with it and handle it.
      socket.once('data', () => socket.write(body.slice(-1)));
      const request = await received;
      if (!request.socket.destroyed) await once(request.socket, 'close');
      expect(request.complete).toBe(false);
      socket.destroy();
      expect408(text);
      const users = await server.ctx.db.selectFrom('user').select('id').where('email', '=', email).execute();
      expect(users).toEqual([]);
    },
    HANG_GUARD_MS,
  );

  it(
    'a body still arriving after its answer (a 405 given first): no second answer, and the connection is closed',
    async () => {
      const answer = await trickle(
        'POST /api/health/live HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          'Content-Length: 100000\r\n\r\n{',
        () => ' ',
      );
      expect(answer).toMatch(/^HTTP\/1\.1 405 /);
      expect(answer.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
    },
    HANG_GUARD_MS,
  );

  it(
    'a keep-alive connection idle past both bounds still takes its next request',
    async () => {
      const socket = await open();
      socket.setEncoding('utf8');
      let text = '';
      socket.on('data', (chunk: string) => {
        text += chunk;
      });
      const answers = async (count: number) => {
        while ((text.match(/HTTP\/1\.1 200 /g) ?? []).length < count || !text.endsWith('}')) {
          if (socket.destroyed) throw new Error(`closed after ${JSON.stringify(text)}`);
          await sleep(10);
        }
      };
      socket.write('GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      await answers(1);
      // Idle between requests is the keep-alive timeout's business, not the request's bounds.
      await sleep(TIMEOUTS.requestMs * 2);
      socket.write('GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n');
      await answers(2);
      expect(socket.destroyed).toBe(false);
      socket.destroy();
    },
    HANG_GUARD_MS,
  );

  it(
    'a handler slower than the request bound is not cut: the bounds are on the client, not on the work',
    async () => {
      const response = await fetch(`${server.url}/api/slow?ms=${TIMEOUTS.requestMs * 3}`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ done: true });
    },
    HANG_GUARD_MS,
  );
});
