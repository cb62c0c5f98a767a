import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_DATA_DIR } from './config.ts';

/**
 * Development values kept under DATA_DIR, made on first use by the start-up code (`npm start`, a function
 * started as its container does, `npm run migrate`), never by parsing the configuration.
 */

type Env = Record<string, string | undefined>;

/** A dev-only value kept under the data dir, so every local function (and every restart) agrees on it. */
export function devValue(dataDir: string, name: string, make: () => string): string {
  const file = resolve(dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const value = make();
  writeFileSync(file, `${value}\n`, { mode: 0o600 });
  return value;
}

/**
 * Outside production an unset SECRET_KEY becomes the development key kept under DATA_DIR, written into `env`
 * before the configuration is parsed; production keeps it unset, so parsing refuses to start. Returns whether
 * the development key is in use, for the start-up warning.
 */
export function useDevSecretKey(env: Env = process.env): boolean {
  if (env.SECRET_KEY || env.ENVIRONMENT === 'production') return false;
  env.SECRET_KEY = devValue(env.DATA_DIR || DEFAULT_DATA_DIR, 'dev-secret-key', () =>
    randomBytes(32).toString('base64url'),
  );
  return true;
}

/** The first superuser's development password, kept under the data dir and shown by `npm start`. */
export function devSuperuserPassword(dataDir: string): string {
  return devValue(dataDir, 'dev-superuser-password', () => randomBytes(12).toString('base64url'));
}
