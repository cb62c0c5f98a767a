import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config.ts';
import { useDevSecretKey } from '../../shared/dev-data.ts';

const dataDir = () => mkdtempSync(join(tmpdir(), 'fs-dev-data-'));

describe('useDevSecretKey (start-up code)', () => {
  it('generates one dev key under the data dir and reuses it', () => {
    const dir = dataDir();
    const first: Record<string, string | undefined> = { DATA_DIR: dir };
    const second: Record<string, string | undefined> = { DATA_DIR: dir };
    expect(useDevSecretKey(first)).toBe(true);
    expect(useDevSecretKey(second)).toBe(true);
    expect(first.SECRET_KEY).toBe(second.SECRET_KEY);
    expect(readFileSync(join(dir, 'dev-secret-key'), 'utf8').trim()).toBe(first.SECRET_KEY);
    expect(loadConfig(first).auth.secretKey).toBe(first.SECRET_KEY);
  });

  it('leaves a given key, and production, alone', () => {
    const given = { DATA_DIR: dataDir(), SECRET_KEY: 'k'.repeat(32) };
    expect(useDevSecretKey(given)).toBe(false);
    expect(given.SECRET_KEY).toBe('k'.repeat(32));
    const production: Record<string, string | undefined> = { DATA_DIR: dataDir(), ENVIRONMENT: 'production' };
    expect(useDevSecretKey(production)).toBe(false);
    expect(production.SECRET_KEY).toBeUndefined();
  });
});
