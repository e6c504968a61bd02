import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites time real work on a 2-core machine; running files in parallel only adds noise.
    fileParallelism: false,
  },
});
