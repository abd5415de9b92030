import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default in run mode is one core less than the machine has: on CI's two cores,
    // one test file at a time. Most files spend much of their time waiting (on child
    // processes, servers, timers), so two at once run the suite in about 7.5 minutes
    // instead of 11 there.
    maxWorkers: Math.max(2, availableParallelism() - 1),
  },
});
