import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { isSecretKey } from '../../shared/telemetry/redact.ts';

// What reaches stdout, read back: no secret survives, wherever it sits in the logged object.

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
];

function capture() {
  const lines: string[] = [];
  const log = createLogger('redaction', 'info', { write: (line: string) => lines.push(line) });
  return { log, lines };
}

describe('log redaction', () => {
  it('removes secrets from bodies, headers and nested objects at any depth, keeping everything else', () => {
    const { log, lines } = capture();
    log.info(
      {
        body: { email: 'a@example.com', password: SECRETS[0], current_password: SECRETS[1] },
        update: { user: { profile: { new_password: SECRETS[2], full_name: 'Ada' } } },
        row: { id: 1, hashed_password: SECRETS[3] },
        headers: { Authorization: SECRETS[4], cookie: SECRETS[7], 'user-agent': 'curl/8' },
        tokens: [{ access_token: SECRETS[5] }, { refreshToken: SECRETS[6] }],
        config: { upstashToken: SECRETS[8], jwtPrivateKey: SECRETS[9], token_type: 'bearer' },
      },
      'request body',
    );
    const [line] = lines;
    for (const secret of SECRETS) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line as string);
    expect(parsed.body).toEqual({
      email: 'a@example.com',
      password: '[redacted]',
      current_password: '[redacted]',
    });
    expect(parsed.update.user.profile).toEqual({ new_password: '[redacted]', full_name: 'Ada' });
    expect(parsed.headers).toEqual({
      Authorization: '[redacted]',
      cookie: '[redacted]',
      'user-agent': 'curl/8',
    });
    expect(parsed.tokens).toBe('[redacted]');
    expect(parsed.config.token_type).toBe('bearer');
  });

  it('removes secrets carried by errors and their causes, and keeps the error readable', () => {
    const { log, lines } = capture();
    const cause = Object.assign(new Error('upstream refused'), { authorization: SECRETS[4] });
    const error = Object.assign(new Error('sign-up failed', { cause }), {
      body: { password: SECRETS[0] },
      hashed_password: SECRETS[3],
      status: 500,
    });
    log.error({ err: error }, 'unhandled error');
    const [line] = lines;
    for (const secret of SECRETS) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line as string);
    // pino appends the cause's message to the error's.
    expect(parsed.err).toMatchObject({
      type: 'Error',
      message: expect.stringContaining('sign-up failed'),
      status: 500,
    });
    expect(parsed.err.stack).toContain('sign-up failed');
    expect(parsed.err.hashed_password).toBe('[redacted]');
    // The original error is left as it was: redaction copies, it never mutates what the caller holds.
    expect(error.hashed_password).toBe(SECRETS[3]);
  });

  it('removes secrets bound to a child logger', () => {
    const { log, lines } = capture();
    log.child({ request_id: 'r1', authorization: SECRETS[4] }).info('hello');
    expect(lines[0]).not.toContain(SECRETS[4]);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ request_id: 'r1', authorization: '[redacted]' });
  });

  it('takes a key for a secret by its ending, in any case', () => {
    // The names this rule was first written as, a regular expression; isSecretKey compares text instead.
    const rule =
      /(password|passwd|secret|secret[-_]?key|token|tokens|authorization|cookie|api[-_]?key|private[-_]?key|credentials?)$/i;
    const keys = [
      ...['password', 'passwd', 'secret', 'token', 'tokens', 'authorization', 'cookie', 'credential'],
      ...['credentials', 'secretKey', 'secret-key', 'SECRET_KEY', 'apiKey', 'x-api-key', 'api_key'],
      ...['privateKey', 'private-key', 'jwt_private_key', 'hashed_password', 'refreshToken', 'Set-Cookie'],
      ...['email', 'full_name', 'token_type', 'passwords', 'key', 'api', 'secrets', 'tokenizer', 'cookies'],
      ...['user-agent', 'expires_in', 'id', '', 'PASSWORD', 'Authorization'],
    ];
    expect(keys.filter(isSecretKey)).toEqual(keys.filter((key) => rule.test(key)));
    expect(keys.filter(isSecretKey)).toContain('hashed_password');
    expect(keys.filter(isSecretKey)).not.toContain('token_type');
  });
});
