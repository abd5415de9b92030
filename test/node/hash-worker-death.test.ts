/**
 * The hashing worker dying mid-hash: an update waiting on it, later updates and the digest all
 * fail with HashWorkerError (as promises, never a synchronous throw, never a hang), and the
 * next hash starts a new worker.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { lcgBytes } from '../helpers/bytes.js';
import { started } from '../helpers/workers.js';

vi.mock('node:worker_threads', async (original) =>
  (await import('../helpers/workers.js')).recordWorkers(await original()),
);
const { nodeHashProvider, HashWorkerError } = await import('../../src/node/hash.js');

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('a hashing worker that dies', () => {
  it('fails the waiting update, later ones and the digest; the next hash gets a new worker', async () => {
    const provider = nodeHashProvider();
    const h = await provider.create();
    // 64 MiB: far over the 1 MiB of copies in flight, so this update waits on the worker.
    const waiting = h.update(lcgBytes(64 * 1024 * 1024, 9));
    expect(waiting).toBeInstanceOf(Promise);
    const later = h.update(lcgBytes(10, 1));
    await started.at(-1)!.worker.terminate();
    const results = await Promise.allSettled([waiting, later]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(HashWorkerError);
    }
    await expect(h.digest()).rejects.toBeInstanceOf(HashWorkerError);
    // An update after the death fails as a promise, not a throw.
    let update: unknown;
    expect(() => {
      update = h.update(new Uint8Array(1));
    }).not.toThrow();
    await expect(update).rejects.toBeInstanceOf(HashWorkerError);

    const again = await provider.create();
    again.update(Uint8Array.of(1, 2, 3));
    expect(hex(await again.digest())).toBe(
      createHash('sha256')
        .update(Uint8Array.of(1, 2, 3))
        .digest('hex'),
    );
  });

  it('fails an update made after it died with no update waiting, as a promise', async () => {
    const h = await nodeHashProvider().create();
    expect(h.update(lcgBytes(1000, 3))).toBeUndefined(); // taken at once
    await started.at(-1)!.worker.terminate();
    let update: unknown;
    expect(() => {
      update = h.update(new Uint8Array(1));
    }).not.toThrow();
    await expect(update).rejects.toBeInstanceOf(HashWorkerError);
    await expect(h.digest()).rejects.toBeInstanceOf(HashWorkerError);
  });
});
