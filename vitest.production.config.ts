import { defineConfig } from 'vitest/config';

// `npm run test:production`: the core journey on the production profile (its own stack).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/production/**/*.test.ts'],
    globalSetup: ['test/helpers/production-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    fileParallelism: false,
  },
});
