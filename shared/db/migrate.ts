import { type MigrationResultSet, Migrator, sql } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { hashPassword } from '../auth/passwords.ts';
import { type Config, ConfigError } from '../config.ts';
import { devSuperuserPassword } from '../dev-data.ts';
import type { Db } from './index.ts';

function migrator(db: Db): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

function check(result: MigrationResultSet): string[] {
  if (result.error) throw result.error;
  return (result.results ?? []).map(
    (r) => `${r.direction === 'Up' ? 'applied' : 'reverted'} ${r.migrationName}`,
  );
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  return check(await migrator(db).migrateToLatest());
}

export async function migrateDown(db: Db): Promise<string[]> {
  return check(await migrator(db).migrateDown());
}

export async function migrateToNone(db: Db): Promise<string[]> {
  const { NO_MIGRATIONS } = await import('kysely');
  return check(await migrator(db).migrateTo(NO_MIGRATIONS));
}

/** Creates the first superuser once; later runs leave an existing account (and its password) alone. */
export async function ensureFirstSuperuser(
  db: Db,
  superuser: { email: string; password: string },
  bcryptCost: number,
): Promise<boolean> {
  const email = superuser.email.toLowerCase();
  const existing = await db.selectFrom('user').select('id').where('email', '=', email).executeTakeFirst();
  if (existing) return false;
  const hashed = await hashPassword(superuser.password, bcryptCost);
  const inserted = await db
    .insertInto('user')
    .values({
      email,
      hashed_password: hashed,
      full_name: 'Administrator',
      is_superuser: true,
      is_active: true,
    })
    .onConflict((oc) => oc.expression(sql`lower(email)`).doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export interface SetupResult {
  applied: string[];
  superuserCreated: boolean;
  /** Set when the password is the development one generated under the data dir (so it can be shown). */
  generatedPassword: string | undefined;
}

/** Migrates to latest and makes sure the first superuser exists: `npm run migrate` and `npm start` share it. */
export async function setupDatabase(db: Db, config: Config): Promise<SetupResult> {
  const applied = await migrateToLatest(db);
  let password = config.firstSuperuser.password;
  let generatedPassword: string | undefined;
  if (!password) {
    if (config.environment === 'production') {
      throw new ConfigError(['FIRST_SUPERUSER_PASSWORD: required when ENVIRONMENT=production']);
    }
    password = devSuperuserPassword(config.dataDir);
    generatedPassword = password;
  }
  const superuserCreated = await ensureFirstSuperuser(
    db,
    { email: config.firstSuperuser.email, password },
    config.auth.bcryptCost,
  );
  return { applied, superuserCreated, generatedPassword };
}
