import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { definition as auth } from '../../functions/auth/routes.ts';
import { definition as users } from '../../functions/users/routes.ts';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { settleBackground } from '../../shared/http/background.ts';
import { mailer } from '../../shared/mail/index.ts';
import { startTestServer, type TestServer, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { type ReceivedMail, TestSmtpServer, tokenFrom } from '../support/smtp.ts';
import { whileLocked } from '../support/table-lock.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

// Every flow end to end through a real SMTP server started here: the test reads the mail the server received
// and follows its link. The database is this file's own: the mail outbox is shared by every instance on a
// database, and another file's relay would otherwise send this file's mail.
const FRONTEND = 'http://frontend.test';
let smtp: TestSmtpServer;
let scratch: ScratchDatabase;
let server: TestServer;
let database: DatabaseHandle;

const env = () => ({
  DATABASE_URL: scratch.url,
  ...smtp.env(),
  FRONTEND_HOST: FRONTEND,
  SMTP_RETRY_BASE_MS: '50',
  SMTP_RETRY_MAX_MS: '300',
  // The rate-limit tests below use their own server with the default limits.
  LOGIN_RATE_LIMIT_PER_ACCOUNT: '1000',
  LOGIN_RATE_LIMIT_PER_ADDRESS: '10000',
});

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
  scratch = await createScratchDatabase();
  server = await startTestServer([auth, users], env());
  database = testDatabase(testConfig({ DATABASE_URL: scratch.url }));
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await database?.close();
  await smtp?.stop();
  await scratch?.drop();
});

beforeEach(() => {
  smtp.refusing = false;
});

const json = (method: string, body: unknown, headers: Record<string, string> = {}) => ({
  method,
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

const newAddress = () => `mail-${randomUUID()}@example.com`;

async function signUp(email: string, password = 'correct horse battery') {
  const response = await server.api(
    '/api/users/',
    json('POST', { email, password, full_name: '<b>Ann</b>' }),
  );
  expect(response.status).toBe(201);
  return (await response.json()) as { id: string; email_verified: boolean };
}

async function logIn(email: string, password: string) {
  return server.api('/api/auth/token', json('POST', { username: email, password }));
}

async function tokenOf(email: string, password: string): Promise<string> {
  const response = await logIn(email, password);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function me(token: string) {
  const response = await server.api('/api/users/me', { headers: { authorization: `Bearer ${token}` } });
  return (await response.json()) as { email: string; email_verified: boolean };
}

async function expectInvalidToken(response: Response) {
  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as { detail: string; errors: { path: string }[] };
  expect(body.detail).toMatch(/invalid, expired or already used/);
  expect(body.errors[0]?.path).toBe('body.token');
}

/** Waits until the relay has nothing left to send that is due (mail to an unknown address would be sent by then). */
async function relaySettled() {
  const relay = mailer(server.ctx).relay;
  relay?.wake();
  await relay?.idle();
}

function checkParts(mail: ReceivedMail, link: string) {
  expect(mail.from).toBe('noreply@example.com');
  expect(mail.parsed.from?.value[0]?.name).toBe('function-set');
  expect(mail.text).toContain(link);
  expect(mail.html).toContain(`href="${link}"`);
}

describe('verification on sign-up', () => {
  it('mails a link to the new address; the link verifies it once', async () => {
    const email = newAddress();
    const created = await signUp(email);
    expect(created.email_verified).toBe(false);
    const mail = await smtp.waitForMail(email, /Confirm your e-mail address/);
    const token = tokenFrom(mail, '/verify-email');
    checkParts(mail, `${FRONTEND}/verify-email?token=${token}`);
    // A full name is the user's text: the HTML part never carries it as markup.
    expect(mail.html).not.toContain('<b>Ann</b>');

    const access = await tokenOf(email, 'correct horse battery');
    expect((await me(access)).email_verified).toBe(false);
    expect((await server.api('/api/auth/verify-email', json('POST', { token }))).status).toBe(204);
    expect((await me(access)).email_verified).toBe(true);
    await expectInvalidToken(await server.api('/api/auth/verify-email', json('POST', { token })));
  });

  it('refuses a made-up token, a reset token, and bodies that are not a token', async () => {
    await expectInvalidToken(
      await server.api('/api/auth/verify-email', json('POST', { token: 'made-up-token-0123456789' })),
    );
    const bad = await server.api('/api/auth/verify-email', json('POST', { token: '', extra: 1 }));
    expect(bad.status).toBe(422);
  });

  it('an address change mails the new address, which is unverified until its link is used', async () => {
    const email = newAddress();
    await signUp(email);
    const first = tokenFrom(await smtp.waitForMail(email, /Confirm/), '/verify-email');
    const access = await tokenOf(email, 'correct horse battery');
    const changed = newAddress();
    const response = await server.api(
      '/api/users/me',
      json(
        'PUT',
        { email: changed, current_password: 'correct horse battery' },
        { authorization: `Bearer ${access}` },
      ),
    );
    expect(response.status).toBe(200);
    expect(((await response.json()) as { email_verified: boolean }).email_verified).toBe(false);
    const mail = await smtp.waitForMail(changed, /Confirm/);
    // The link mailed to the old address no longer verifies anything.
    await expectInvalidToken(await server.api('/api/auth/verify-email', json('POST', { token: first })));
    const token = tokenFrom(mail, '/verify-email');
    expect((await server.api('/api/auth/verify-email', json('POST', { token }))).status).toBe(204);
    expect(await me(access)).toMatchObject({ email: changed, email_verified: true });
  });

  it('POST /api/users/me/verification-email mails a new link; 409 once verified', async () => {
    const email = newAddress();
    await signUp(email);
    await smtp.waitForMail(email, /Confirm/);
    const access = await tokenOf(email, 'correct horse battery');
    const auth = { authorization: `Bearer ${access}` };
    const again = await server.api('/api/users/me/verification-email', { method: 'POST', headers: auth });
    expect(again.status).toBe(202);
    await expect.poll(() => smtp.mailsTo(email).length, { timeout: 10_000 }).toBe(2);
    const token = tokenFrom(smtp.mailsTo(email)[1]!, '/verify-email');
    expect((await server.api('/api/auth/verify-email', json('POST', { token }))).status).toBe(204);
    const done = await server.api('/api/users/me/verification-email', { method: 'POST', headers: auth });
    expect(done.status).toBe(409);
    expect((await server.api('/api/users/me/verification-email', { method: 'POST' })).status).toBe(401);
  });
});

describe('password recovery', () => {
  it('answers a known and an unknown address alike, and mails only the known one', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    const unknown = newAddress();
    const answers = await Promise.all(
      [user.email, unknown].map((email) =>
        server.api('/api/auth/password-recovery', json('POST', { email: email.toUpperCase() })),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual([202, 202]);
    const [known, other] = await Promise.all(answers.map((a) => a.text()));
    expect(known).toBe(other);
    await smtp.waitForMail(user.email, /Password recovery/);
    await settleBackground(server.ctx);
    await relaySettled();
    expect(smtp.mailsTo(unknown)).toEqual([]);
    const queued = await database.db
      .selectFrom('outbox_mail')
      .select('recipient')
      .where('recipient', '=', unknown)
      .execute();
    expect(queued).toEqual([]);
  });

  it('the link resets the password once, ends every session and older links, and verifies the address', async () => {
    const { user, password } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    for (let i = 0; i < 2; i++)
      expect(
        (await server.api('/api/auth/password-recovery', json('POST', { email: user.email }))).status,
      ).toBe(202);
    await expect.poll(() => smtp.mailsTo(user.email).length, { timeout: 10_000 }).toBe(2);
    const [older, newer] = smtp.mailsTo(user.email).map((mail) => tokenFrom(mail, '/reset-password'));
    checkParts(smtp.mailsTo(user.email)[1]!, `${FRONTEND}/reset-password?token=${newer}`);

    const before = (await (await logIn(user.email, password)).json()) as {
      access_token: string;
      refresh_token: string;
    };
    const reset = await server.api(
      '/api/auth/reset-password',
      json('POST', { token: newer, new_password: 'a brand new password' }),
    );
    expect(reset.status).toBe(204);
    // Every session of the user ended with the reset: its access token and its refresh token stop working.
    const oldAccess = await server.api('/api/users/me', {
      headers: { authorization: `Bearer ${before.access_token}` },
    });
    expect(oldAccess.status).toBe(401);
    const oldRefresh = await server.api(
      '/api/auth/token',
      json('POST', { grant_type: 'refresh_token', refresh_token: before.refresh_token }),
    );
    expect(oldRefresh.status).toBe(400);
    expect((await logIn(user.email, password)).status).toBe(400);
    const access = await tokenOf(user.email, 'a brand new password');
    expect((await me(access)).email_verified).toBe(true);

    for (const token of [newer, older])
      await expectInvalidToken(
        await server.api(
          '/api/auth/reset-password',
          json('POST', { token, new_password: 'yet another one!' }),
        ),
      );
    expect((await logIn(user.email, 'a brand new password')).status).toBe(200);
  });

  it('refuses an expired link, a verification link, a made-up one, and a short password', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    await server.api('/api/auth/password-recovery', json('POST', { email: user.email }));
    const token = tokenFrom(await smtp.waitForMail(user.email, /Password recovery/), '/reset-password');
    const short = await server.api(
      '/api/auth/reset-password',
      json('POST', { token, new_password: 'short' }),
    );
    expect(short.status).toBe(422);
    await database.db
      .updateTable('email_token')
      .set({ expires_at: sql<string>`now() - interval '1 second'` })
      .where('user_id', '=', user.id)
      .execute();
    for (const given of [token, 'made-up-token-0123456789'])
      await expectInvalidToken(
        await server.api(
          '/api/auth/reset-password',
          json('POST', { token: given, new_password: 'long enough!' }),
        ),
      );
  });

  it('mails nothing for an inactive account', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress(), active: false });
    expect(
      (await server.api('/api/auth/password-recovery', json('POST', { email: user.email }))).status,
    ).toBe(202);
    const queued = () =>
      database.db.selectFrom('outbox_mail').select('id').where('recipient', '=', user.email).execute();
    await settleBackground(server.ctx);
    await relaySettled();
    expect(await queued()).toEqual([]);
  });

  it('does the account-dependent work after the answer: a known address answers while that work is blocked', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    // Holds the token table: writing a reset link waits here. Were that work on the request's path, the
    // answer could not come before the lock is released.
    await whileLocked(scratch.url, 'email_token', async (waiting) => {
      const answer = await server.api('/api/auth/password-recovery', json('POST', { email: user.email }));
      expect(answer.status).toBe(202);
      await expect.poll(waiting, { timeout: 10_000 }).toBeGreaterThan(0);
      expect(smtp.mailsTo(user.email)).toEqual([]);
    });
    await smtp.waitForMail(user.email, /Password recovery/);
  });

  it('answers known and unknown addresses alike, with the accounts locked: neither answer reads them', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    // Holds the accounts: looking the address up waits here. Both answers arriving meanwhile, alike, shows
    // the request's path does the same work whether or not an account has the address (no timing needed).
    await whileLocked(scratch.url, 'user', async (waiting) => {
      const known = await server.api('/api/auth/password-recovery', json('POST', { email: user.email }));
      const unknown = await server.api('/api/auth/password-recovery', json('POST', { email: newAddress() }));
      expect([known.status, unknown.status]).toEqual([202, 202]);
      expect(await known.json()).toEqual(await unknown.json());
      // The lookups behind both answers wait for the lock now.
      await expect.poll(waiting, { timeout: 10_000 }).toBe(2);
      expect(smtp.mailsTo(user.email)).toEqual([]);
    });
    await smtp.waitForMail(user.email, /Password recovery/);
  });
});

describe('mail is never lost, and never sent for a change that rolled back', () => {
  it('retries while the SMTP server refuses, and delivers once it accepts', async () => {
    smtp.refusing = true;
    const refusedBefore = smtp.refusals;
    const email = newAddress();
    await signUp(email);
    await expect.poll(() => smtp.refusals - refusedBefore, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(smtp.mailsTo(email)).toEqual([]);
    const row = await database.db
      .selectFrom('outbox_mail')
      .select(['attempts', 'last_error', 'delivered_at'])
      .where('recipient', '=', email)
      .executeTakeFirstOrThrow();
    expect(row.attempts).toBeGreaterThanOrEqual(1);
    expect(row.last_error).toMatch(/421/);
    expect(row.delivered_at).toBeNull();
    smtp.refusing = false;
    await smtp.waitForMail(email, /Confirm/);
    await expect
      .poll(async () =>
        database.db
          .selectFrom('outbox_mail')
          .select(['text', 'html'])
          .where('recipient', '=', email)
          .where('delivered_at', 'is not', null)
          .executeTakeFirst(),
      )
      // Sent: the body, which holds the link, is no longer kept.
      .toEqual({ text: null, html: null });
  });

  it('retries while the SMTP server is down, and delivers once it is back', async () => {
    await smtp.stop();
    const email = newAddress();
    try {
      await signUp(email);
      await expect
        .poll(
          async () =>
            (
              await database.db
                .selectFrom('outbox_mail')
                .select('attempts')
                .where('recipient', '=', email)
                .executeTakeFirst()
            )?.attempts,
          { timeout: 10_000 },
        )
        .toBeGreaterThanOrEqual(2);
    } finally {
      await smtp.start();
    }
    await smtp.waitForMail(email, /Confirm/);
  });

  it('sends nothing for a transaction that rolled back', async () => {
    const email = newAddress();
    const mail = mailer(server.ctx);
    await expect(
      server.ctx.db.transaction().execute(async (trx) => {
        await mail.record(trx, { to: email, subject: 'never', text: 'never', html: '<p>never</p>' });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    mail.afterCommit();
    await relaySettled();
    expect(smtp.mailsTo(email)).toEqual([]);
  });
});

describe('mail rate limits (the login limits)', () => {
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer([auth, users], {
      ...env(),
      LOGIN_RATE_LIMIT_PER_ACCOUNT: '3',
      LOGIN_RATE_LIMIT_PER_ADDRESS: '8',
    });
  });
  afterAll(async () => {
    await limited?.stop();
  });

  it('429 with Retry-After per address asked about, known or not, then per client', async () => {
    const { user } = await createTestUser(database.db, testConfig(), { email: newAddress() });
    const unknown = newAddress();
    const ask = (email: string) => limited.api('/api/auth/password-recovery', json('POST', { email }));
    for (const email of [user.email, unknown]) {
      for (let i = 0; i < 3; i++) expect((await ask(email)).status).toBe(202);
      const refused = await ask(email);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    // Eight requests so far from this client, refused ones included: past its limit, a fresh address is refused.
    expect((await ask(newAddress())).status).toBe(429);
  });
});
