import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseOrigins } from '../../shared/config.ts';

const dataDir = () => mkdtempSync(join(tmpdir(), 'fs-config-'));

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ DATA_DIR: dataDir(), ...env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('loadConfig', () => {
  it('has the contract defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir() });
    expect(config.port).toBe(8080);
    expect(config.environment).toBe('development');
    expect(config.auth.accessTokenExpireMinutes).toBe(30);
    expect(config.auth.bcryptCost).toBe(12);
    expect(config.corsOrigins).toEqual(['http://localhost']);
    expect(config.firstSuperuser.email).toBe('admin@example.com');
    expect(config.database.url).toBeUndefined();
    expect(config.cache.upstashUrl).toBeUndefined();
  });

  it('names every invalid variable in one error', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      ENVIRONMENT: 'prod',
      DATABASE_URL: 'mysql://x',
      ACCESS_TOKEN_EXPIRE_MINUTES: '0',
      BACKEND_CORS_ORIGINS: '["not an origin"]',
      UPSTASH_REDIS_REST_URL: 'https://cache.example.com',
    });
    const named = problems.map((p) => p.split(':')[0]);
    expect(named).toEqual(
      expect.arrayContaining([
        'PORT',
        'ENVIRONMENT',
        'DATABASE_URL',
        'ACCESS_TOKEN_EXPIRE_MINUTES',
        'BACKEND_CORS_ORIGINS',
        'UPSTASH_REDIS_REST_URL, UPSTASH_REDIS_REST_TOKEN',
      ]),
    );
  });

  it('requires SECRET_KEY in production, and refuses a short one anywhere', () => {
    expect(problemsOf({ ENVIRONMENT: 'production' })).toContain(
      'SECRET_KEY: required when ENVIRONMENT=production',
    );
    expect(problemsOf({ SECRET_KEY: 'short' })[0]).toMatch(/^SECRET_KEY: must be at least 32/);
  });

  it('writes nothing while parsing, even without SECRET_KEY', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.auth.secretKey.length).toBeGreaterThanOrEqual(32);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("accepts the seed's POSTGRES_* variables", () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      POSTGRES_SERVER: 'db.internal',
      POSTGRES_USER: 'app',
      POSTGRES_PASSWORD: 'p@ss word',
      POSTGRES_DB: 'items',
      POSTGRES_PORT: '6432',
    });
    expect(config.database.url).toBe('postgresql://app:p%40ss%20word@db.internal:6432/items');
  });

  it('prefers DATABASE_URL over POSTGRES_*', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      DATABASE_URL: 'postgresql://u@h/d',
      POSTGRES_SERVER: 'ignored',
    });
    expect(config.database.url).toBe('postgresql://u@h/d');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), PORT: '', K_SINK: '' }).port).toBe(8080);
  });
});

describe('parseOrigins', () => {
  it('reads JSON and comma lists', () => {
    expect(parseOrigins('["http://a.com", "https://b.com:8443/"]')).toEqual([
      'http://a.com',
      'https://b.com:8443',
    ]);
    expect(parseOrigins('http://a.com, http://b.com')).toEqual(['http://a.com', 'http://b.com']);
  });
  it('rejects what is not an origin', () => {
    expect(parseOrigins('ftp://a.com')).toMatch(/not an origin/);
    expect(parseOrigins('[1,')).toMatch(/JSON list/);
  });
});
