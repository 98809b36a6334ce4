// A two-file suite run by tests/examples/crash-isolation.test.ts (not by the main suite: its files
// are *.fixture.ts): one guest kills its process, the other boots and passes its golden check.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { alias: { hypemu: fileURLToPath(new URL('../../../machine/index.ts', import.meta.url)) } },
  test: {
    root: fileURLToPath(new URL('../../..', import.meta.url)),
    include: ['tests/examples/crash-fixture/*.fixture.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 120_000,
  },
});
