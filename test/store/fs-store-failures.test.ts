/**
 * FsStore under a failing write, injected into node:fs/promises: a put that waited for another
 * put of the same chunk tries on its own when that one fails.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { chunk, expectBytes } from './conformance.js';

const { faults } = vi.hoisted(() => ({ faults: { writeFailures: 0 } }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    writeFile: (async (...args: Parameters<typeof fs.writeFile>) => {
      if (faults.writeFailures > 0) {
        faults.writeFailures--;
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return fs.writeFile(...args);
    }) as typeof fs.writeFile,
  };
});

const root = await mkdtemp(join(tmpdir(), 'layerdiff-fsfail-'));
afterAll(() => rm(root, { recursive: true, force: true }));

it('a put waiting on a failed put of the same chunk stores it itself', async () => {
  const store = await FsStore.open(root);
  const c = chunk(5000, 41);
  faults.writeFailures = 1;
  const [first, second] = await Promise.allSettled([
    store.put(c.digest, c.bytes),
    store.put(c.digest, c.bytes),
  ]);
  expect(first.status).toBe('rejected');
  expect(second).toEqual({ status: 'fulfilled', value: true });
  expectBytes(await store.get(c.digest), c.bytes);
});
