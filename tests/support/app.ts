import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { type Config, loadConfig } from '../../shared/config.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { type StartedServer, type StartOptions, startServer } from '../../shared/http/server.ts';
import { createLogger } from '../../shared/telemetry/logger.ts';
import { checkResponseAgainstDocument } from './openapi-responses.ts';

export const TEST_SECRET_KEY = 'test-secret-key-that-is-long-enough-0123456789';

/** The environment every in-process test app starts from: the run's database, a fixed key, cheap bcrypt. */
export function testEnv(
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    DATABASE_URL: inject('databaseUrl'),
    SECRET_KEY: TEST_SECRET_KEY,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'fs-test-data-')),
    RATE_LIMIT_PER_MINUTE: '0',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string | undefined> = {}): Config {
  return loadConfig(testEnv(overrides));
}

export interface TestServer extends StartedServer {
  /** fetch() relative to the server: `api('/api/health')`; throws when the answer is not what the document says. */
  api(path: string, init?: RequestInit): Promise<Response>;
}

/** Starts functions in this process on a free port of 127.0.0.1, over real HTTP. */
export async function startTestServer(
  functions: FunctionDefinition[],
  env: Record<string, string | undefined> = {},
  options: StartOptions = {},
): Promise<TestServer> {
  const config = options.config ?? testConfig(env);
  const log = options.log ?? createLogger('test', config.logLevel);
  const server = await startServer(functions, { ...options, config, log, host: '127.0.0.1', port: 0 });
  const address = server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const base = `http://127.0.0.1:${port}`;
  return {
    ...server,
    url: base,
    // Every answer is also checked against the served OpenAPI document (openapi-responses.ts).
    async api(path, init) {
      const response = await fetch(`${base}${path}`, init);
      await checkResponseAgainstDocument(init?.method ?? 'GET', `${base}${path}`, response);
      return response;
    },
  };
}
