import { createRequire } from 'node:module';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

// shared/http/plugins/apply-plugin.ts runs @fastify/cors and @fastify/helmet on the app rather than registering
// them, so that a cold start does not load semver to check the Fastify version range each declares (see the
// comment there). The check Fastify would make is made here instead.

const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
};

describe('the Fastify plugins applied without their version check', () => {
  it.each([
    ['@fastify/cors', cors],
    ['@fastify/helmet', helmet],
  ])('%s declares a Fastify range the installed Fastify satisfies', (_name, plugin) => {
    const meta = (plugin as unknown as Record<symbol, { fastify?: string } | undefined>)[
      Symbol.for('plugin-meta')
    ];
    expect(meta?.fastify).toMatch(/\d/);
    const { version } = Fastify();
    expect(semver.satisfies(version, meta?.fastify ?? '')).toBe(true);
  });
});
