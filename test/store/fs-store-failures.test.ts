/**
 * FsStore with node:fs/promises instrumented: a put that waited for another put of the same
 * chunk tries on its own when that one fails (an injected failing write); with `fsync`, `flush`
 * syncs the directories that gained names (syncs are logged).
 */
import { mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { ChunkDigestError } from '../../src/errors.js';
import { FsStore } from '../../src/node/fs-store.js';
import { chunk, expectBytes } from './conformance.js';

const { faults } = vi.hoisted(() => ({
  faults: {
    writeFailures: 0,
    syncs: undefined as string[] | undefined,
    /** Runs once before a file is renamed aside as corrupt. */
    beforeQuarantine: undefined as (() => Promise<void>) | undefined,
    /** While set, every fsync waits for it (a slow disk). */
    syncHold: undefined as Promise<void> | undefined,
    /** Fsyncs that fail with EIO before one succeeds. */
    syncFailures: 0,
  },
}));

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
    rename: async (from: string, to: string) => {
      const before = faults.beforeQuarantine;
      if (before && to.endsWith('.corrupt')) {
        faults.beforeQuarantine = undefined;
        await before();
      }
      return fs.rename(from, to);
    },
    open: async (...args: Parameters<typeof fs.open>) => {
      const fh = await fs.open(...args);
      const sync = fh.sync.bind(fh);
      fh.sync = async () => {
        if (faults.syncHold) await faults.syncHold;
        if (faults.syncFailures > 0) {
          faults.syncFailures--;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
        await sync();
        faults.syncs?.push(String(args[0]));
      };
      return fh;
    },
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

it('with fsync, flush puts the names of the chunks stored since the last flush on disk', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerdiff-fssync-'));
  try {
    const store = await FsStore.open(dir, { fsync: true, codec: false });
    const [a, b] = [chunk(5000, 42), chunk(5000, 43)];
    await store.put(a.digest, a.bytes);
    await store.put(b.digest, b.bytes);
    faults.syncs = [];
    await store.flush();
    expect(new Set(faults.syncs)).toEqual(
      new Set([
        dir,
        join(dir, 'sha256'),
        dirname(store.pathOf(a.digest)),
        dirname(store.pathOf(b.digest)),
      ]),
    );
    faults.syncs = [];
    await store.flush();
    expect(faults.syncs).toEqual([]);
  } finally {
    faults.syncs = undefined;
    await rm(dir, { recursive: true, force: true });
  }
});

it('a reader that found a chunk corrupt leaves alone the good copy another process put since', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerdiff-fsrace-'));
  try {
    const store = await FsStore.open(dir, { codec: false });
    const c = chunk(5000, 44);
    await store.put(c.digest, c.bytes);
    const file = store.pathOf(c.digest);
    const bad = await readFile(file);
    bad[0]! ^= 1;
    await writeFile(file, bad);
    // Between this reader's read and its rename, another reader moves the bad file aside and
    // a writer puts a good copy in its place.
    faults.beforeQuarantine = async () => {
      await rename(file, `${file}.corrupt`);
      await writeFile(file, c.bytes);
    };
    await expect(store.get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError);
    expect(await store.has(c.digest)).toBe(true);
    expectBytes(await store.get(c.digest), c.bytes);
  } finally {
    faults.beforeQuarantine = undefined;
    await rm(dir, { recursive: true, force: true });
  }
});

it('a corrupt chunk file that is a symbolic link is moved aside, so a put repairs it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerdiff-fssym-'));
  try {
    const store = await FsStore.open(dir, { codec: false });
    const c = chunk(3000, 45);
    await store.put(c.digest, c.bytes);
    const file = store.pathOf(c.digest);
    const elsewhere = join(dir, 'elsewhere');
    await rename(file, elsewhere);
    await writeFile(elsewhere, chunk(3000, 46).bytes);
    await symlink(elsewhere, file);
    await expect(store.get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError);
    expect(await store.has(c.digest)).toBe(false);
    expect(await store.put(c.digest, c.bytes)).toBe(true);
    expectBytes(await store.get(c.digest), c.bytes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('with fsync, a flush waits for the syncs of a flush under way, which may hold its names', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerdiff-fsflush-'));
  let release!: () => void;
  try {
    const store = await FsStore.open(dir, { fsync: true, codec: false });
    const c = chunk(5000, 47);
    await store.put(c.digest, c.bytes);
    faults.syncs = [];
    faults.syncHold = new Promise((r) => {
      release = r;
    });
    // One pipeline's flush takes every directory to sync; another's starts meanwhile.
    const first = store.flush();
    let secondDone = false;
    const second = store.flush().then(() => {
      secondDone = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(secondDone).toBe(false);
    release();
    await Promise.all([first, second]);
    expect(faults.syncs).toContain(dirname(store.pathOf(c.digest)));
  } finally {
    faults.syncHold = undefined;
    faults.syncs = undefined;
    release?.();
    await rm(dir, { recursive: true, force: true });
  }
});

it('with fsync, a flush waiting behind a failed one syncs what that one could not', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'layerdiff-fsflushfail-'));
  let release!: () => void;
  try {
    const store = await FsStore.open(dir, { fsync: true, codec: false });
    const c = chunk(5000, 48);
    await store.put(c.digest, c.bytes);
    faults.syncs = [];
    faults.syncHold = new Promise((r) => {
      release = r;
    });
    faults.syncFailures = 1;
    const first = store.flush();
    const second = store.flush();
    release();
    await expect(first).rejects.toThrow(/EIO/);
    await second;
    expect(faults.syncs).toContain(dirname(store.pathOf(c.digest)));
  } finally {
    faults.syncHold = undefined;
    faults.syncs = undefined;
    faults.syncFailures = 0;
    release?.();
    await rm(dir, { recursive: true, force: true });
  }
});
