import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from '../../shared/db/index.ts';
import { TEST_SECRET_KEY, testConfig } from '../support/app.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { type RunningBundle, startBundle } from '../support/process.ts';
import { TestSmtpServer, tokenFrom } from '../support/smtp.ts';
import { createTestUser, testDatabase } from '../support/users.ts';

// The built auth bundle as a process, as its container runs it: SIGTERM while a recovery's mail is still being
// written and the SMTP server refuses loses nothing; the next process sends it.
let smtp: TestSmtpServer;
let scratch: ScratchDatabase;
let database: DatabaseHandle;
const running: RunningBundle[] = [];

beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
  scratch = await createScratchDatabase();
  database = testDatabase(testConfig({ DATABASE_URL: scratch.url }));
}, 60_000);

afterAll(async () => {
  for (const bundle of running) await bundle.stop('SIGKILL');
  await database?.close();
  await smtp?.stop();
  await scratch?.drop();
});

async function startAuth(): Promise<RunningBundle> {
  const bundle = await startBundle(
    'auth',
    {
      DATABASE_URL: scratch.url,
      SECRET_KEY: TEST_SECRET_KEY,
      BCRYPT_COST: '4',
      LOG_LEVEL: 'info',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'fs-mail-')),
      ...smtp.env(),
      SMTP_RETRY_BASE_MS: '100',
      SMTP_RETRY_MAX_MS: '500',
    },
    { cwd: tmpdir() },
  );
  running.push(bundle);
  return bundle;
}

const outboxRow = (email: string) =>
  database.db
    .selectFrom('outbox_mail')
    .select(['attempts', 'delivered_at'])
    .where('recipient', '=', email)
    .executeTakeFirst();

describe('mail across a SIGTERM', () => {
  it('finishes the recovery it answered, keeps the unsent mail queued, and the next process sends it', async () => {
    const { user } = await createTestUser(database.db, testConfig(), {
      email: `sigterm-${randomUUID()}@example.com`,
    });
    smtp.refusing = true;
    const first = await startAuth();

    // The recovery's work after the answer is held up by a lock when SIGTERM comes.
    const blocker = new pg.Client({ connectionString: scratch.url });
    await blocker.connect();
    blocker.on('error', () => {});
    try {
      await blocker.query('begin');
      await blocker.query('lock table email_token in access exclusive mode');
      const answer = await fetch(`${first.url}/api/auth/password-recovery`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: user.email }),
      });
      expect(answer.status).toBe(202);
      const waiting = async () =>
        (
          await blocker.query(
            "select count(*)::int as n from pg_locks where relation = 'email_token'::regclass and not granted",
          )
        ).rows[0].n;
      await expect.poll(waiting, { timeout: 10_000 }).toBeGreaterThan(0);
      const exited = first.stop('SIGTERM');
      // Shutdown has begun once the server stops accepting connections.
      await expect
        .poll(
          () =>
            fetch(`${first.url}/api/health/live`).then(
              () => 'accepting',
              () => 'closed',
            ),
          {
            timeout: 10_000,
          },
        )
        .toBe('closed');
      expect(first.child.exitCode).toBeNull();
      await blocker.query('commit');
      expect(await exited).toBe(0);
    } finally {
      await blocker.end();
    }

    // Written before the exit; the SMTP server refused it, so it waits.
    const queued = await outboxRow(user.email);
    expect(queued).toBeDefined();
    expect(queued?.delivered_at).toBeNull();
    expect(smtp.mailsTo(user.email)).toEqual([]);

    smtp.refusing = false;
    const second = await startAuth();
    const mail = await smtp.waitForMail(user.email, /Password recovery/);
    const reset = await fetch(`${second.url}/api/auth/reset-password`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: tokenFrom(mail, '/reset-password'), new_password: 'after the restart' }),
    });
    expect(reset.status).toBe(204);
    expect((await outboxRow(user.email))?.delivered_at).not.toBeNull();
    expect(smtp.mailsTo(user.email)).toHaveLength(1);
  });
});
