import { compare, hash } from '@node-rs/bcrypt';

/**
 * bcrypt through @node-rs/bcrypt: hashing and comparing run on libuv's thread pool, so a login storm does not
 * stall the event loop for other requests.
 */

export const MAX_PASSWORD_BYTES = 72;

export function hashPassword(password: string, cost: number): Promise<string> {
  return hash(password, cost);
}

export async function verifyPassword(password: string, hashed: string): Promise<boolean> {
  try {
    return await compare(password, hashed);
  } catch {
    return false;
  }
}
