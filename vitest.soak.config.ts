import { defineConfig } from 'vitest/config';

/** `npm run test:soak`'s memory soak: only tests/soak/, with the same global setup (bundles, database) as `npm test`. */
export default defineConfig({
  test: {
    include: ['tests/soak/**/*.test.ts'],
    globalSetup: ['tests/support/global-setup.ts'],
    pool: 'forks',
    hookTimeout: 60_000,
    reporters: ['default', './tests/support/summary-reporter.ts'],
  },
});
