import { availableParallelism } from 'node:os';
import { compare, hash } from '@node-rs/bcrypt';

/**
 * bcrypt through @node-rs/bcrypt: hashing and comparing run on libuv's thread pool, never on the event loop.
 * That alone is not enough: libuv has four threads, and four bcrypt runs on a two-core pod leave the event
 * loop no core, so every other request of the process slows down during a login storm. At most cores - 1
 * bcrypt runs happen at once; the rest wait their turn (logins are rate limited, and Knative scales out on
 * the concurrency that waiting shows).
 */
export const MAX_CONCURRENT_BCRYPT = Math.max(1, availableParallelism() - 1);

/** Runs at most `max` tasks at once, the others in arrival order as slots free up. */
export function concurrencyLimit(max: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(work: () => Promise<T>): Promise<T> {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await work();
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}

const withBcryptSlot = concurrencyLimit(MAX_CONCURRENT_BCRYPT);

/** bcrypt reads only the first 72 bytes of a password; anything longer must be refused, never cut. */
export const MAX_PASSWORD_BYTES = 72;
export const MIN_PASSWORD_CHARACTERS = 8;

export function passwordFitsBcrypt(password: string): boolean {
  return Buffer.byteLength(password, 'utf8') <= MAX_PASSWORD_BYTES;
}

export async function hashPassword(password: string, cost: number): Promise<string> {
  // @node-rs/bcrypt silently ignores bytes past 72: hashing such a password would accept any suffix later.
  if (!passwordFitsBcrypt(password))
    throw new RangeError(`passwords are limited to ${MAX_PASSWORD_BYTES} bytes`);
  return withBcryptSlot(() => hash(password, cost));
}

/**
 * Compares in the time one bcrypt run of the hash's cost takes, whatever the input. A password over 72 bytes
 * is still compared (same time) but never matches: bcrypt would otherwise accept it when its first 72 bytes
 * are right.
 */
export async function verifyPassword(password: string, hashed: string): Promise<boolean> {
  let matches: boolean;
  try {
    matches = await withBcryptSlot(() => compare(password, hashed));
  } catch {
    return false;
  }
  return matches && passwordFitsBcrypt(password);
}

// A real bcrypt hash of a random, forgotten password. Only its cost field is rewritten below, so comparing
// against it costs exactly what comparing against a stored hash of that cost does, and nothing matches it.
const DUMMY_HASH_TAIL = 'n0ZOnxYLpvSR7uaDoJzin.LhM5P84OLUEP/EGdcP/QvYrEzSVZnPy';

/** A hash no password matches, of the given cost: login compares against it when the email is unknown. */
export function dummyHash(cost: number): string {
  return `$2b$${String(cost).padStart(2, '0')}$${DUMMY_HASH_TAIL}`;
}
