import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TEST_SECRET_KEY } from '../support/app.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { rawRequest } from '../support/raw-http.ts';

// An upload the bundle answers before its body has arrived, on a connection the client asked to close
// (node:http without an agent sends `Connection: close`): the server closes after its answer while bytes are
// still coming. Closed at once, the kernel resets the connection, and the reset can reach the client before the
// answer (about one 8 MB upload in ten lost its answer so; the fuzzer met it with 1 MB) until
// shared/http/client-errors.ts let such a connection linger. The server runs as its own process, as in
// production: with client and server in one process the race does not happen.

let bundle: RunningBundle;

beforeAll(async () => {
  bundle = await startBundle(
    'health',
    { DATABASE_URL: inject('databaseUrl'), SECRET_KEY: TEST_SECRET_KEY, LOG_LEVEL: 'warn' },
    { cwd: tmpdir() },
  );
}, 60_000);
afterAll(() => bundle?.stop('SIGKILL'));

describe('an answer sent before the request body has arrived', () => {
  it('reaches the client every time, though the connection closes after it', async () => {
    const body = JSON.stringify({ title: 'y'.repeat(8_000_000) });
    const outcomes: string[] = [];
    for (let i = 0; i < 100; i++) {
      // A malformed percent-encoding: a 400 decided from the request line alone.
      const outcome = await rawRequest(bundle.url, {
        method: 'GET',
        path: '/api/health/li%C0%80ve',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(
        (answer) => String(answer.status),
        (error: Error) => error.message,
      );
      outcomes.push(outcome);
    }
    expect(new Set(outcomes)).toEqual(new Set(['400']));
  }, 180_000);
});
