import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests import the library as a user does (`from 'hypemu'`): here, its sources. The packed
    // package (exports, .d.ts) is checked by tests/integration/package.test.ts.
    alias: { hypemu: fileURLToPath(new URL('./machine/index.ts', import.meta.url)) },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Unicorn instances are heavy and the machine has two cores.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
