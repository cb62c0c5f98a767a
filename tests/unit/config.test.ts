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

  it("reads the template's mail variables, with the contract defaults", () => {
    const defaults = loadConfig({ DATA_DIR: dataDir() }).mail;
    expect(defaults).toMatchObject({
      smtp: undefined,
      from: { email: 'noreply@example.com', name: 'function-set' },
      frontendHost: 'http://localhost:8080',
      resetTokenHours: 1,
      verifyTokenHours: 48,
    });
    const smtp = (env: Record<string, string>) =>
      loadConfig({ DATA_DIR: dataDir(), SMTP_HOST: 'mail', ...env }).mail.smtp;
    expect(smtp({})).toEqual({
      host: 'mail',
      port: 587,
      user: undefined,
      password: undefined,
      startTls: true,
      ssl: false,
    });
    expect(smtp({ SMTP_SSL: 'true' })).toMatchObject({ port: 465, startTls: false, ssl: true });
    expect(smtp({ SMTP_TLS: 'False', SMTP_PORT: '1025' })).toMatchObject({ port: 1025, startTls: false });
    expect(
      loadConfig({ DATA_DIR: dataDir(), FRONTEND_HOST: 'https://app.example.com/' }).mail.frontendHost,
    ).toBe('https://app.example.com');
    expect(
      problemsOf({ SMTP_TLS: 'yes', FRONTEND_HOST: 'app', EMAIL_RESET_TOKEN_EXPIRE_HOURS: '0' }).map(
        (p) => p.split(':')[0],
      ),
    ).toEqual(expect.arrayContaining(['SMTP_TLS', 'FRONTEND_HOST', 'EMAIL_RESET_TOKEN_EXPIRE_HOURS']));
    expect(problemsOf({ SMTP_TLS: 'true', SMTP_SSL: 'true' })).toContain(
      'SMTP_TLS, SMTP_SSL: set one of them (STARTTLS, or TLS from the start), not both',
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
