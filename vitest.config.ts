import { defineConfig } from 'vitest/config';
import { hasTool, inCI, KUBECTL_TEST_FILES } from './tests/support/tools.ts';

// Without kubectl (a laptop, not CI) the manifest tests are left out; tests/deploy/tools.test.ts then reports
// them as skipped, with the reason.
const withoutKubectl = !inCI && !hasTool('kubectl');

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // tests/soak/ runs minutes on end: `npm run test:soak` (vitest.soak.config.ts), never `npm test`.
    exclude: ['**/node_modules/**', 'tests/soak/**', ...(withoutKubectl ? KUBECTL_TEST_FILES : [])],
    globalSetup: ['tests/support/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './tests/support/summary-reporter.ts'],
  },
});
