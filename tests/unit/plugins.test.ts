import { createRequire } from 'node:module';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

// shared/http/plugins/cors.ts applies @fastify/cors by calling it, not registering it, so that a cold start does
// not load semver to check the Fastify version range the plugin declares (see the comment there). The check
// Fastify would make is made here instead.

const semver = createRequire(import.meta.url)('semver') as {
  satisfies(version: string, range: string): boolean;
};

describe('the Fastify plugins applied without their version check', () => {
  it('@fastify/cors declares a Fastify range the installed Fastify satisfies', () => {
    const meta = (cors as unknown as Record<symbol, { fastify?: string } | undefined>)[
      Symbol.for('plugin-meta')
    ];
    expect(meta?.fastify).toMatch(/\d/);
    const { version } = Fastify();
    expect(semver.satisfies(version, meta?.fastify ?? '')).toBe(true);
  });
});
