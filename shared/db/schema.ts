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

export interface Database {
  user: UserTable;
  item: ItemTable;
}

export type UserRow = Selectable<UserTable>;
export type NewUserRow = Insertable<UserTable>;
export type UserUpdate = Updateable<UserTable>;
export type ItemRow = Selectable<ItemTable>;
export type NewItemRow = Insertable<ItemTable>;
export type ItemUpdate = Updateable<ItemTable>;
