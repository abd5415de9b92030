/**
 * Worker threads recorded as they start, for tests that check when a module starts and stops
 * its workers. In the test file:
 *
 * ```ts
 * vi.mock('node:worker_threads', async (original) =>
 *   (await import('../helpers/workers.js')).recordWorkers(await original()),
 * );
 * ```
 */
import type * as WorkerThreads from 'node:worker_threads';

/** Every worker started under {@link recordWorkers}, in order, and whether it has exited. */
export const started: Array<{ worker: WorkerThreads.Worker; exited: boolean }> = [];

/** node:worker_threads with a `Worker` that records itself in {@link started}. */
export function recordWorkers(m: typeof WorkerThreads): typeof WorkerThreads {
  class Recorded extends m.Worker {
    constructor(...args: ConstructorParameters<typeof m.Worker>) {
      super(...args);
      const entry = { worker: this as WorkerThreads.Worker, exited: false };
      this.on('exit', () => {
        entry.exited = true;
      });
      started.push(entry);
    }
  }
  return { ...m, Worker: Recorded };
}
