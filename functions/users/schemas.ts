import * as v from 'valibot';
import type { CurrentUser } from '../../shared/auth/current-user.ts';
import {
  MAX_PASSWORD_BYTES,
  MIN_PASSWORD_CHARACTERS,
  passwordFitsBcrypt,
} from '../../shared/auth/passwords.ts';
import { strictBody, Timestamp, text, Uuid } from '../../shared/http/schemas.ts';

/** Bodies are strict objects: an unknown field (is_superuser in a sign-up) is a 422, never ignored. */

export const Email = v.pipe(
  text({ max: 320 }),
  v.trim(),
  v.email('must be a valid email address'),
  // Stored and compared lower-cased: Alice@Example.com and alice@example.com are one account.
  v.toLowerCase(),
);

export const Password = v.pipe(
  text({ min: MIN_PASSWORD_CHARACTERS, max: MAX_PASSWORD_BYTES }),
  // bcrypt reads 72 bytes; a longer password is refused rather than silently cut. JSON Schema counts only
  // characters, so this message is what the document says of it.
  v.check(
    passwordFitsBcrypt,
    `must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8 (bcrypt reads no further)`,
  ),
);

const FullName = v.nullable(text({ max: 255 }));

export const SignUp = strictBody({
  email: Email,
  password: Password,
  full_name: v.optional(FullName),
});

export const UpdateMe = strictBody({
  full_name: v.optional(FullName),
  email: v.optional(Email),
  password: v.optional(Password),
  current_password: v.optional(text({ max: 1024 })),
});

export const UpdateUser = strictBody({
  full_name: v.optional(FullName),
  email: v.optional(Email),
  is_active: v.optional(v.boolean('must be true or false')),
  is_superuser: v.optional(v.boolean('must be true or false')),
  password: v.optional(Password),
});

export type SignUpInput = v.InferOutput<typeof SignUp>;
export type UpdateMeInput = v.InferOutput<typeof UpdateMe>;
export type UpdateUserInput = v.InferOutput<typeof UpdateUser>;

export const UserPublic = v.object({
  id: Uuid,
  email: v.string(),
  full_name: v.nullable(v.string()),
  is_active: v.boolean(),
  is_superuser: v.boolean(),
  /** True once a link mailed to the current address was used. */
  email_verified: v.boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});

export type UserDto = v.InferOutput<typeof UserPublic>;

/** Field by field, so a column added to the table (a hash, a secret) never reaches a response by accident. */
export function toUserDto(user: CurrentUser): UserDto {
  return {
    id: user.id,
    email: user.email,
    full_name: user.full_name,
    is_active: user.is_active,
    is_superuser: user.is_superuser,
    email_verified: user.email_verified,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
  };
}

export const SessionPublic = v.object({
  id: Uuid,
  created_at: v.pipe(Timestamp, v.description('When the session logged in.')),
  last_used_at: v.pipe(Timestamp, v.description('Its last login or refresh.')),
  expires_at: v.pipe(
    Timestamp,
    v.description('When it ends at the latest (REFRESH_TOKEN_EXPIRE_DAYS after its login).'),
  ),
  user_agent: v.nullable(v.string()),
  current: v.pipe(v.boolean(), v.description('The session of the token that asked.')),
});

export type SessionDto = v.InferOutput<typeof SessionPublic>;

export function toSessionDto(session: {
  id: string;
  created_at: Date;
  last_used_at: Date;
  expires_at: Date;
  user_agent: string | null;
  current: boolean;
}): SessionDto {
  return {
    id: session.id,
    created_at: session.created_at.toISOString(),
    last_used_at: session.last_used_at.toISOString(),
    expires_at: session.expires_at.toISOString(),
    user_agent: session.user_agent,
    current: session.current,
  };
}
