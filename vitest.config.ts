import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Numerical tests on the pure-JS backend are CPU-bound; one file at a time per core.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    allowOnly: false,
    setupFiles: ['test/setup.ts'],
  },
});
