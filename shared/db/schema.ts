import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** Table types, written to match migrations/. Timestamps are set by the database. */

type CreatedAt = ColumnType<Date, never, never>;
type UpdatedAt = ColumnType<Date, never, Date | string>;

export interface UserTable {
  id: Generated<string>;
  /** Stored lower-cased; a unique index on it makes addresses case-insensitively unique. */
  email: string;
  hashed_password: string;
  full_name: string | null;
  is_active: Generated<boolean>;
  is_superuser: Generated<boolean>;
  /** True once a verification link mailed to the current address was used. */
  email_verified: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ItemTable {
  id: Generated<string>;
  title: string;
  description: string | null;
  owner_id: string;
  is_active: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A stored answer to POST /api/items/ with an Idempotency-Key (see functions/items). */
export interface IdempotencyKeyTable {
  user_id: string;
  key: string;
  /** SHA-256 (hex) of the request body in canonical form. */
  request_hash: string;
  /** Null only inside the transaction that claimed the key; set before it commits. */
  response_status: number | null;
  /** A json column: written as JSON text, read back parsed. */
  response_body: ColumnType<unknown, string | null | undefined, string | null>;
  created_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** The transactional outbox of CloudEvents (see shared/events). */
export interface OutboxEventTable {
  /** bigint: pg returns it as a string. */
  seq: ColumnType<string, never, never>;
  id: string;
  type: string;
  source: string;
  subject: string;
  /** A json column: written as JSON text, read back parsed. */
  data: ColumnType<unknown, string, never>;
  occurred_at: ColumnType<Date, Date | string | undefined, never>;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  delivered_at: Date | null;
  last_error: string | null;
  /** The trace context of the request that wrote the event (null when tracing was off). */
  traceparent: ColumnType<string | null, string | null | undefined, never>;
  tracestate: ColumnType<string | null, string | null | undefined, never>;
}

/** A reset or verification link, kept as the SHA-256 (hex) of its token (see shared/auth/email-tokens.ts). */
export interface EmailTokenTable {
  token_hash: string;
  purpose: 'reset' | 'verify';
  user_id: string;
  /** The address the link was mailed to: it works only while the account still has that address. */
  email: string;
  created_at: CreatedAt;
  expires_at: Date | string;
  spent_at: ColumnType<Date | null, never, Date | string>;
}

/** The transactional outbox of mail (see shared/mail). */
export interface OutboxMailTable {
  /** bigint: pg returns it as a string. */
  seq: ColumnType<string, never, never>;
  id: string;
  recipient: string;
  subject: string;
  /** Cleared once the SMTP server has taken the mail. */
  text: string | null;
  html: string | null;
  created_at: CreatedAt;
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  delivered_at: Date | null;
  last_error: string | null;
  traceparent: ColumnType<string | null, string | null | undefined, never>;
  tracestate: ColumnType<string | null, string | null | undefined, never>;
}

/**
 * Exact row counts kept by triggers (migration 0004): a counter's value is the sum of its rows. Names:
 * `item`, `item.inactive`, `user`, and `item:<owner id>`, `item.inactive:<owner id>`.
 */
export interface RowCountTable {
  counter: string;
  slot: number;
  /** bigint: pg returns it as a string. */
  n: ColumnType<string, never, never>;
}

/** One login (see shared/auth/session-store.ts). */
export interface SessionTable {
  id: Generated<string>;
  user_id: string;
  created_at: CreatedAt;
  last_used_at: ColumnType<Date, never, Date | string>;
  expires_at: ColumnType<Date, Date | string, never>;
  user_agent: string | null;
  client_address: string | null;
  ended_at: ColumnType<Date | null, never, Date | string>;
  /** Why it ended: logout, revoked, replay, password_change, ... (null while open). */
  end_reason: ColumnType<string | null, never, string>;
}

/** Every refresh token a session was given, by its SHA-256 hash; only the newest is unspent. */
export interface RefreshTokenTable {
  token_hash: Buffer;
  session_id: string;
  created_at: CreatedAt;
  spent_at: ColumnType<Date | null, never, Date | string>;
}

export interface Database {
  user: UserTable;
  session: SessionTable;
  refresh_token: RefreshTokenTable;
  item: ItemTable;
  idempotency_key: IdempotencyKeyTable;
  outbox_event: OutboxEventTable;
  email_token: EmailTokenTable;
  outbox_mail: OutboxMailTable;
  row_count: RowCountTable;
}

export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserUpdate = Updateable<UserTable>;
export type ItemRow = Selectable<ItemTable>;
export type NewItemRow = Insertable<ItemTable>;
export type ItemUpdate = Updateable<ItemTable>;
export type OutboxEventRow = Selectable<OutboxEventTable>;
export type OutboxMailRow = Selectable<OutboxMailTable>;
export type SessionRow = Selectable<SessionTable>;
