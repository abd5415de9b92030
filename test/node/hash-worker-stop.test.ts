/**
 * Stopping the shared hashing worker (`stopHashWorker`): an idle worker exits and the next
 * hash with the worker starts a new one; a worker that a hash still uses is left running.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { lcgBytes } from '../helpers/bytes.js';
import { started } from '../helpers/workers.js';

vi.mock('node:worker_threads', async (original) =>
  (await import('../helpers/workers.js')).recordWorkers(await original()),
);
const { nodeHashProvider, startHashWorker, stopHashWorker } = await import(
  '../../src/node/hash.js'
);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ref = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('stopHashWorker', () => {
  it('ends an idle worker; the next hash with the worker starts another', async () => {
    startHashWorker();
    const first = started.at(-1)!;
    const exit = once(first.worker, 'exit');
    stopHashWorker();
    await exit;
    expect(first.exited).toBe(true);
    // Over the size hashed on the calling thread, so this goes to a worker.
    const data = lcgBytes(300_000, 3);
    expect(hex(await nodeHashProvider().digest(data))).toBe(ref(data));
    expect(started.at(-1)).not.toBe(first);
    expect(started.at(-1)!.exited).toBe(false);
  });

  it('leaves a worker that an unfinished hash uses', async () => {
    const h = await nodeHashProvider().create();
    const running = started.at(-1)!;
    const data = lcgBytes(3_000_000, 5);
    await h.update(data.subarray(0, 1_000_000));
    stopHashWorker();
    await h.update(data.subarray(1_000_000));
    expect(hex(await h.digest())).toBe(ref(data));
    expect(running.exited).toBe(false);
    expect(started.at(-1)).toBe(running);
    // Idle again: now it stops.
    const exit = once(running.worker, 'exit');
    stopHashWorker();
    await exit;
  });
});
