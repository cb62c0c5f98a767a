import { randomUUID } from 'node:crypto';
import { hashPassword } from '../../shared/auth/passwords.ts';
import { createSession } from '../../shared/auth/session-store.ts';
import { issueAccessToken } from '../../shared/auth/tokens.ts';
import type { Config } from '../../shared/config.ts';
import { createDatabase, type Db } from '../../shared/db/index.ts';
import type { UserRow } from '../../shared/db/schema.ts';

export interface TestUser {
  user: Omit<UserRow, 'hashed_password'>;
  password: string;
  /** An access token of a session of its own, as a login would give. */
  token: string;
  sessionId: string;
  refreshToken: string;
  /** `{ authorization: 'Bearer …' }` for fetch. */
  auth: Record<string, string>;
}

/** Writes a user straight into the run's database (bcrypt cost 4), opens a session and issues it a real token. */
export async function createTestUser(
  db: Db,
  config: Config,
  options: {
    superuser?: boolean;
    active?: boolean;
    email?: string;
    password?: string;
    fullName?: string;
  } = {},
): Promise<TestUser> {
  const password = options.password ?? `pw-${randomUUID()}`;
  const email = (options.email ?? `user-${randomUUID()}@example.com`).toLowerCase();
  const row = await db
    .insertInto('user')
    .values({
      email,
      hashed_password: await hashPassword(password, 4),
      full_name: options.fullName ?? 'Test User',
      is_superuser: options.superuser ?? false,
      is_active: options.active ?? true,
    })
    .returning([
      'id',
      'email',
      'full_name',
      'is_active',
      'is_superuser',
      'email_verified',
      'created_at',
      'updated_at',
    ])
    .executeTakeFirstOrThrow();
  const session = await createSession(db, {
    userId: row.id,
    lifetimeDays: config.auth.refreshTokenExpireDays,
    userAgent: 'test',
    clientAddress: '127.0.0.1',
  });
  const { token } = await issueAccessToken(config, row.id, session.sessionId);
  return {
    user: row,
    password,
    token,
    sessionId: session.sessionId,
    refreshToken: session.refreshToken,
    auth: { authorization: `Bearer ${token}` },
  };
}

/** A database handle on the run's database for a test file; close it in afterAll. */
export function testDatabase(config: Config) {
  return createDatabase(config);
}
