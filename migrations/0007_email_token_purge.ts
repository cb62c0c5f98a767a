import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The token purge drops tokens expired or spent a while ago (shared/auth/email-tokens.ts): expires_at has its
  // index already, and this one serves the spent side, holding only spent tokens since open ones are never purged.
  await sql`create index email_token_spent_idx on email_token (spent_at) where spent_at is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists email_token_spent_idx`.execute(db);
}
