import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * List cursors: a position in a list, sealed with AES-256-GCM under a key derived from SECRET_KEY (HKDF), so a
 * client can neither read nor forge one. What the cursor is for (the list, the caller, the filters) is the
 * associated data: it is not in the token, yet a cursor opened for anything else fails authentication, so
 * another user's cursor, or one from another list, reveals nothing and is refused like a damaged one.
 */

/** What a cursor belongs to; a cursor only opens for exactly the same binding. */
export interface CursorBinding {
  /** The list, e.g. `items`. */
  list: string;
  /** Who walks it and with which rights, e.g. `own:<user id>` or `all:<user id>`. */
  caller: string;
  /** The list's filters as the request gave them (absent ones undefined). */
  filters?: Record<string, string | number | boolean | undefined>;
}

/** Where a page continues: after the row with these values of the list's order, or from the start (empty). */
export type Position = readonly string[];

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const keys = new Map<string, Buffer>();

function keyFor(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', secret, 'function-set', 'list cursor v1', 32));
    keys.set(secret, key);
  }
  return key;
}

function associatedData({ list, caller, filters = {} }: CursorBinding): Buffer {
  const sorted = Object.keys(filters)
    .sort()
    .filter((name) => filters[name] !== undefined)
    .map((name) => [name, filters[name]]);
  return Buffer.from(JSON.stringify([VERSION, list, caller, sorted]));
}

export function sealCursor(secret: string, binding: CursorBinding, position: Position): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(secret), iv);
  cipher.setAAD(associatedData(binding));
  const sealed = Buffer.concat([cipher.update(JSON.stringify(position), 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), iv, sealed, cipher.getAuthTag()]).toString('base64url');
}

/** The position a cursor holds, or undefined when it is forged, damaged, or made for another binding. */
export function openCursor(secret: string, binding: CursorBinding, token: string): Position | undefined {
  const bytes = Buffer.from(token, 'base64url');
  // Base64 decoding skips what it cannot read; only the exact text this module wrote is a cursor.
  if (bytes.toString('base64url') !== token) return undefined;
  if (bytes.length < 1 + IV_BYTES + TAG_BYTES || bytes[0] !== VERSION) return undefined;
  const iv = bytes.subarray(1, 1 + IV_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const sealed = bytes.subarray(1 + IV_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyFor(secret), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(binding));
    decipher.setAuthTag(tag);
    const plain = Buffer.concat([decipher.update(sealed), decipher.final()]).toString('utf8');
    const position: unknown = JSON.parse(plain);
    if (!Array.isArray(position) || !position.every((part) => typeof part === 'string')) return undefined;
    return position;
  } catch {
    return undefined;
  }
}
