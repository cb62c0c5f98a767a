import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/telemetry/logger.ts';

// What reaches stdout, read back: no secret survives at the places shared/telemetry/redact.ts names.

const SECRETS = [
  'hunter2-password',
  'old-current-password',
  'new-password-value',
  '$2b$12$hashedpasswordvalue',
  'Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig',
  'access-token-value',
  'refresh-token-value',
  'session=cookie-value',
  'upstash-rest-token',
  'jwt-private-key-pem',
  'development-secret-key',
];

function capture() {
  const lines: string[] = [];
  const log = createLogger('redaction', 'info', { write: (line: string) => lines.push(line) });
  return { log, lines };
}

describe('log redaction', () => {
  it('removes secrets from the logged object, bodies, headers and config, keeping everything else', () => {
    const { log, lines } = capture();
    log.info(
      {
        password: SECRETS[0],
        body: {
          email: 'a@example.com',
          current_password: SECRETS[1],
          profile: { new_password: SECRETS[2], full_name: 'Ada' },
        },
        headers: { authorization: SECRETS[4], cookie: SECRETS[7], 'user-agent': 'curl/8' },
        req: { headers: { Authorization: SECRETS[4], 'set-cookie': SECRETS[7] } },
        tokens: [{ access_token: SECRETS[5] }, { refreshToken: SECRETS[6] }],
        config: {
          upstashToken: SECRETS[8],
          jwtPrivateKey: SECRETS[9],
          SECRET_KEY: SECRETS[10],
          token_type: 'bearer',
        },
      },
      'request body',
    );
    const [line] = lines;
    for (const secret of SECRETS) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line as string);
    expect(parsed.password).toBe('[redacted]');
    expect(parsed.body).toEqual({
      email: 'a@example.com',
      current_password: '[redacted]',
      profile: { new_password: '[redacted]', full_name: 'Ada' },
    });
    expect(parsed.headers).toEqual({
      authorization: '[redacted]',
      cookie: '[redacted]',
      'user-agent': 'curl/8',
    });
    expect(parsed.req.headers).toEqual({ Authorization: '[redacted]', 'set-cookie': '[redacted]' });
    expect(parsed.tokens).toBe('[redacted]');
    expect(parsed.config.token_type).toBe('bearer');
  });

  it('removes secrets carried by errors, and keeps the error readable and the original untouched', () => {
    const { log, lines } = capture();
    const cause = Object.assign(new Error('upstream refused'), { authorization: SECRETS[4] });
    const error = Object.assign(new Error('sign-up failed', { cause }), {
      body: { password: SECRETS[0] },
      headers: { cookie: SECRETS[7] },
      hashed_password: SECRETS[3],
      status: 500,
    });
    log.error({ err: error }, 'unhandled error');
    log.error(error);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      for (const secret of SECRETS) expect(line).not.toContain(secret);
      const parsed = JSON.parse(line);
      // pino appends the cause's message to the error's (and leaves the cause's own properties out).
      expect(parsed.err).toMatchObject({
        type: 'Error',
        message: 'sign-up failed: upstream refused',
        status: 500,
        hashed_password: '[redacted]',
        body: { password: '[redacted]' },
        headers: { cookie: '[redacted]' },
      });
      expect(parsed.err.stack).toContain('sign-up failed');
    }
    // Redaction copies: the error the caller holds keeps its values.
    expect(error.hashed_password).toBe(SECRETS[3]);
    expect(error.body.password).toBe(SECRETS[0]);
  });

  it('removes secrets bound to a child logger', () => {
    const { log, lines } = capture();
    log.child({ request_id: 'r1', authorization: SECRETS[4] }).info('hello');
    expect(lines[0]).not.toContain(SECRETS[4]);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ request_id: 'r1', authorization: '[redacted]' });
  });
});

describe('log lines', () => {
  it('are one JSON object a line: level name, ISO time, function, fields, message; errors as pino writes them', () => {
    const { log, lines } = capture();
    log.info({ status: 200, duration_ms: 1.5 }, 'request completed');
    log.child({ request_id: 'r1' }).warn('with %s', 'an argument');
    log.debug('below the level');
    log.level = 'debug';
    log.debug('now at debug');
    expect(lines.every((line) => line.endsWith('}\n'))).toBe(true);
    const [first, second, third] = lines.map((line) => JSON.parse(line));
    expect(Object.keys(first)).toEqual(['level', 'time', 'function', 'status', 'duration_ms', 'message']);
    expect(first).toMatchObject({ level: 'info', function: 'redaction', message: 'request completed' });
    expect(new Date(first.time).toISOString()).toBe(first.time);
    expect(second).toMatchObject({ level: 'warn', request_id: 'r1', message: 'with an argument' });
    expect(third).toMatchObject({ level: 'debug', message: 'now at debug' });
    expect(lines).toHaveLength(3);
  });

  it('refuses an unknown level', () => {
    expect(() => createLogger('fn', 'loud')).toThrow(/loud/);
  });
});
