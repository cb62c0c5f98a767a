import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface PackageRule {
  matchPackageNames?: string[];
  matchManagers?: string[];
  groupName?: string;
  enabled?: boolean;
  description?: string;
  matchUpdateTypes?: string[];
  dependencyDashboardApproval?: boolean;
}

const renovate: { packageRules: PackageRule[]; lockFileMaintenance?: { enabled?: boolean } } = JSON.parse(
  readFileSync('renovate.json', 'utf8'),
);
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const dependencies = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies });

/** Renovate's matchPackageNames: exact names, globs (* within a segment, ** across) or /regex/. */
function matches(pattern: string, name: string): boolean {
  const regex = /^\/(.*)\/$/.exec(pattern);
  if (regex) return new RegExp(regex[1]!).test(name);
  const glob = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  return new RegExp(`^${glob}$`).test(name);
}

/** What Renovate applies to an npm package: later matching rules override earlier ones. */
function settingsFor(name: string): PackageRule {
  return renovate.packageRules
    .filter((r) => !r.matchManagers || r.matchManagers.includes('npm'))
    .filter((r) => r.matchPackageNames?.some((p) => matches(p, name)))
    .reduce<PackageRule>((acc, r) => Object.assign(acc, r), {});
}

describe('renovate.json', () => {
  it('groups the OpenTelemetry, Fastify and AWS packages', () => {
    const group = (name: string) => settingsFor(name).groupName;
    for (const name of dependencies) {
      if (name.startsWith('@opentelemetry/')) expect(group(name), name).toBe('OpenTelemetry');
      else if (name === '@fastify/aws-lambda' || name === '@types/aws-lambda')
        expect(group(name), name).toBe('AWS');
      else if (name === 'fastify' || name.startsWith('@fastify/')) expect(group(name), name).toBe('Fastify');
    }
    expect(group('aws-sdk')).toBe('AWS');
    expect(group('@opentelemetry/sdk-node')).toBe('OpenTelemetry');
    expect(group('pino')).toBeUndefined();
  });

  it('keeps @node-rs/bcrypt where npm ci works, and says why', () => {
    expect(pkg.dependencies['@node-rs/bcrypt']).toBe('1.10.8');
    const bcrypt = settingsFor('@node-rs/bcrypt');
    expect(bcrypt.enabled).toBe(false);
    expect(bcrypt.description).toMatch(/npm ci/);
    expect(settingsFor('@node-rs/bcrypt-linux-x64-gnu').enabled).toBe(false);
  });

  it('moves the Node.js runtime and its types together, to a new LTS major only once approved', () => {
    for (const name of ['node', '@types/node']) {
      expect(settingsFor(name).groupName, name).toBe('Node.js runtime');
      const major = renovate.packageRules.find(
        (r) => r.matchUpdateTypes?.includes('major') && r.matchPackageNames?.includes(name),
      );
      expect(major?.dependencyDashboardApproval, name).toBe(true);
    }
    // The base-image rule comes first, so the node image joins the runtime group rather than that one.
    const names = renovate.packageRules.map((r) => r.groupName);
    expect(names.indexOf('Node.js runtime')).toBeGreaterThan(names.indexOf('Base image'));
  });

  it('refreshes the lock file', () => {
    expect(renovate.lockFileMaintenance?.enabled).toBe(true);
  });
});
