import { spawnSync } from 'node:child_process';

/**
 * Command-line tools some tests drive (kubectl's kustomize, terraform fmt). CI's machine has them and there a
 * missing one fails the run; on a laptop without one, the tests that need it are reported as skipped with
 * the reason, never silently passed (see vitest.config.ts and tests/deploy/tools.test.ts).
 */
export function hasTool(command: string): boolean {
  return spawnSync(command, ['version'], { stdio: 'ignore' }).error === undefined;
}

export const inCI = process.env.CI === 'true';

/** Test files that cannot even be collected without kubectl: they render the overlays at load time. */
export const KUBECTL_TEST_FILES = ['tests/deploy/manifests.test.ts', 'tests/deploy/routes.test.ts'];
