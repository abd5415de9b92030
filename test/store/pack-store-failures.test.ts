/**
 * PackStore under failing writes: a full disk, short writes, a publication that fails. Faults
 * are injected into node:fs/promises and the synchronous writes of node:fs (a blocking store
 * writes with those), so no special filesystem is needed.
 */
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PackStore } from '../../src/node/pack-store.js';
import { chunk, expectBytes } from './conformance.js';

const { faults, enospc } = vi.hoisted(() => ({
  faults: {
    /** Renames that fail before one succeeds. */
    renameFailures: 0,
    /** Writes (writev) that fail with ENOSPC before one succeeds. */
    writeFailures: 0,
    /** Calls to writev, counted. */
    writevCalls: 0,
    /** When set, every writev writes only this many bytes. */
    shortWrites: 0,
    /** Opens of pack files (temporary or published) that fail with EMFILE before one succeeds. */
    packOpenFailures: 0,
    /** Runs once right after a pack's rename, before its index is written. */
    afterPackRename: undefined as (() => Promise<void>) | undefined,
    /** When set, renames and fsyncs are logged here, by file name. */
    trace: undefined as string[] | undefined,
    /** Syncs of the packs directory that fail with EIO before one succeeds. */
    dirSyncFailures: 0,
    /** When set, syncs of the packs directory that succeed before one fails with EIO. */
    dirSyncFailAfter: undefined as number | undefined,
  },
  enospc: () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }),
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...fs,
    rename: async (from: string, to: string) => {
      if (faults.renameFailures > 0) {
        faults.renameFailures--;
        throw enospc();
      }
      await fs.rename(from, to);
      faults.trace?.push(`rename ${basename(to)}`);
      const after = faults.afterPackRename;
      if (after && from.endsWith('.pack.tmp')) {
        faults.afterPackRename = undefined;
        await after();
      }
    },
    open: async (...args: Parameters<typeof fs.open>) => {
      if (faults.packOpenFailures > 0 && /\.pack(\.tmp)?$/.test(String(args[0]))) {
        faults.packOpenFailures--;
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      }
      const fh = await fs.open(...args);
      const sync = fh.sync.bind(fh);
      fh.sync = async () => {
        const packsDir = basename(String(args[0])) === 'packs';
        if (packsDir && faults.dirSyncFailAfter !== undefined && faults.dirSyncFailAfter-- === 0) {
          faults.dirSyncFailAfter = undefined;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
        if (packsDir && faults.dirSyncFailures > 0) {
          faults.dirSyncFailures--;
          throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        }
        await sync();
        faults.trace?.push(`sync ${basename(String(args[0]))}`);
      };
      const writev = fh.writev.bind(fh);
      fh.writev = (async (buffers: Uint8Array[], position?: number) => {
        faults.writevCalls++;
        if (faults.writeFailures > 0) {
          faults.writeFailures--;
          throw enospc();
        }
        if (faults.shortWrites > 0) {
          const first = buffers[0]!.subarray(0, Math.min(faults.shortWrites, buffers[0]!.length));
          return writev([first], position);
        }
        return writev(buffers, position);
      }) as typeof fh.writev;
      return fh;
    },
  };
});

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    writevSync: (fd: number, buffers: Uint8Array[], position?: number) => {
      faults.writevCalls++;
      if (faults.writeFailures > 0) {
        faults.writeFailures--;
        throw enospc();
      }
      if (faults.shortWrites > 0) {
        const first = buffers[0]!.subarray(0, Math.min(faults.shortWrites, buffers[0]!.length));
        return fs.writevSync(fd, [first], position);
      }
      return fs.writevSync(fd, buffers, position);
    },
    writeSync: ((
      fd: number,
      buffer: Uint8Array,
      offset: number,
      length: number,
      position: number,
    ) =>
      fs.writeSync(
        fd,
        buffer,
        offset,
        faults.shortWrites > 0 ? Math.min(length, faults.shortWrites) : length,
        position,
      )) as typeof fs.writeSync,
  };
});

const roots: string[] = [];
const fresh = async () => {
  const r = await mkdtemp(join(tmpdir(), 'layerdiff-packfail-'));
  roots.push(r);
  return r;
};
afterAll(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));
beforeEach(() => {
  faults.renameFailures = 0;
  faults.writeFailures = 0;
  faults.writevCalls = 0;
  faults.shortWrites = 0;
  faults.packOpenFailures = 0;
  faults.afterPackRename = undefined;
  faults.trace = undefined;
  faults.dirSyncFailures = 0;
  faults.dirSyncFailAfter = undefined;
});

describe('PackStore with failing writes', () => {
  it.each([false, true])(
    'records after one whose write failed are found in the published index (blocking: %s)',
    async (blocking) => {
      // The published index leaves the failed record out, so the later records' entries move
      // up; the store must look them up where they now are.
      const root = await fresh();
      const s = await PackStore.open(root, { blocking });
      const [a, b, c, d] = [chunk(3000, 70), chunk(3000, 71), chunk(3000, 72), chunk(3000, 73)];
      expect(await s.put(a.digest, a.bytes)).toBe(true);
      faults.writeFailures = 1;
      await expect(s.put(b.digest, b.bytes)).rejects.toThrow(/ENOSPC/);
      expect(await s.put(c.digest, c.bytes)).toBe(true);
      expect(await s.put(d.digest, d.bytes)).toBe(true);
      await s.flush();
      for (const x of [a, c, d]) {
        expect(await s.has(x.digest)).toBe(true);
        expect(await s.put(x.digest, x.bytes)).toBe(false);
        expectBytes(await s.get(x.digest), x.bytes);
      }
      expect(await s.has(b.digest)).toBe(false);
      await s.close();
      const t = await PackStore.open(root, { blocking });
      for (const x of [a, c, d]) expect(await t.has(x.digest)).toBe(true);
      expect(await t.has(b.digest)).toBe(false);
      await t.close();
    },
  );

  it('a failed publication fails every flush until one succeeds; no chunk is lost', async () => {
    const root = await fresh();
    const store = await PackStore.open(root);
    const x = chunk(30_000, 1);
    expect(await store.put(x.digest, x.bytes)).toBe(true);
    faults.renameFailures = 2;
    await expect(store.flush()).rejects.toThrow(/ERR_STORE|publishing pack .*ENOSPC/);
    // Another pipeline's flush on the same store must not report success either.
    await expect(store.flush()).rejects.toThrow(/ENOSPC/);
    expect(await store.has(x.digest)).toBe(true);
    await store.flush();
    await store.close();
    const again = await PackStore.open(root);
    expectBytes(await again.get(x.digest), x.bytes);
    await again.close();
  });

  it.each([false, true])('resumes short writes (blocking %s)', async (blocking) => {
    const root = await fresh();
    const store = await PackStore.open(root, { codec: false, blocking });
    faults.shortWrites = 1000;
    const xs = [chunk(70_000, 2), chunk(5, 3), chunk(200_000, 4)];
    for (const x of xs) expect(await store.put(x.digest, x.bytes)).toBe(true);
    faults.shortWrites = 0;
    await store.close();
    const again = await PackStore.open(root);
    for (const x of xs) expectBytes(await again.get(x.digest), x.bytes);
    await again.close();
  });

  it.each([false, true])(
    'a failed write fails its put, leaves the chunk absent, and the pack still publishes (blocking %s)',
    async (blocking) => {
      const root = await fresh();
      const store = await PackStore.open(root, { blocking });
      const [a, b, c] = [chunk(40_000, 5), chunk(40_000, 6), chunk(40_000, 7)];
      await store.put(a.digest, a.bytes);
      faults.writeFailures = 1;
      // `has` waits for the write in flight, and reports the chunk absent when it fails.
      const failing = store.put(b.digest, b.bytes);
      const held = store.has(b.digest);
      await expect(failing).rejects.toThrow(/writing chunk .*ENOSPC/);
      expect(await held).toBe(false);
      await store.put(c.digest, c.bytes);
      // The last write fails too: the pack file is then shorter than the space reserved in it.
      faults.writeFailures = 1;
      const d = chunk(40_000, 8);
      await expect(store.put(d.digest, d.bytes)).rejects.toThrow(/ENOSPC/);
      await store.close();
      const again = await PackStore.open(root);
      expectBytes(await again.get(a.digest), a.bytes);
      expectBytes(await again.get(c.digest), c.bytes);
      expect(await again.has(b.digest)).toBe(false);
      expect(await again.has(d.digest)).toBe(false);
      await again.close();
    },
  );

  it.each([false, true])(
    'puts made together go to the pack in one write, and a failed one fails each (blocking %s)',
    async (blocking) => {
      const root = await fresh();
      const store = await PackStore.open(root, { blocking, codec: false });
      const first = chunk(1000, 30);
      await store.put(first.digest, first.bytes);
      faults.writevCalls = 0;
      const xs = [1, 2, 3, 4].map((i) => chunk(30_000, 30 + i));
      await Promise.all(xs.map((x) => store.put(x.digest, x.bytes)));
      expect(faults.writevCalls).toBe(1);
      // A batch holds at most 256 records (512 parts): 300 at once take two writes.
      faults.writevCalls = 0;
      const many = Array.from({ length: 300 }, (_, i) => chunk(100, 1000 + i));
      await Promise.all(many.map((x) => store.put(x.digest, x.bytes)));
      expect(faults.writevCalls).toBe(2);
      // ...and at most about 1 MiB: five records of 300 KB take two writes (four, then one).
      faults.writevCalls = 0;
      const large = [1, 2, 3, 4, 5].map((i) => chunk(300_000, 500 + i));
      await Promise.all(large.map((x) => store.put(x.digest, x.bytes)));
      expect(faults.writevCalls).toBe(2);
      faults.writeFailures = 1;
      const ys = [1, 2, 3].map((i) => chunk(30_000, 40 + i));
      const results = await Promise.allSettled(ys.map((y) => store.put(y.digest, y.bytes)));
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect(String((r as PromiseRejectedResult).reason)).toMatch(/writing chunk .*ENOSPC/);
      }
      for (const y of ys) expect(await store.has(y.digest)).toBe(false);
      await store.close();
      const again = await PackStore.open(root);
      for (const x of [first, ...xs, ...many, ...large]) {
        expectBytes(await again.get(x.digest), x.bytes);
      }
      for (const y of ys) expect(await again.has(y.digest)).toBe(false);
      await again.close();
    },
  );

  it.each([false, true])(
    'a pack that could not be created fails its puts, and the next put starts another (blocking %s)',
    async (blocking) => {
      const root = await fresh();
      const store = await PackStore.open(root, { blocking });
      const [a, b] = [chunk(20_000, 14), chunk(20_000, 15)];
      faults.packOpenFailures = 1;
      await expect(store.put(a.digest, a.bytes)).rejects.toThrow(/EMFILE/);
      expect(await store.put(b.digest, b.bytes)).toBe(true);
      expect(await store.put(a.digest, a.bytes)).toBe(true);
      // The pack that never was holds nothing: no flush fails over it, and it keeps no
      // chunk bytes (a batch of records gathered for it lets go of them).
      await store.flush();
      const dead = (store as unknown as { packs: Array<{ open?: { batch?: unknown } }> }).packs[0]!;
      expect(dead.open?.batch).toBeUndefined();
      await store.close();
      const again = await PackStore.open(root);
      expectBytes(await again.get(a.digest), a.bytes);
      expectBytes(await again.get(b.digest), b.bytes);
      await again.close();
    },
  );

  it('with fsync, a pack, its name and its index reach the disk in that order', async () => {
    const root = await fresh();
    const store = await PackStore.open(root, { fsync: true });
    const x = chunk(9000, 17);
    await store.put(x.digest, x.bytes);
    faults.trace = [];
    await store.flush();
    const pattern = (t: string) =>
      t.replace(/[0-9a-z]{9}-[0-9a-f]{16}/, 'P').replace(/\.[0-9a-f]{12}\.tmp$/, '.tmp');
    const trace = faults.trace.map(pattern);
    expect(trace).toEqual([
      'sync .P.pack.tmp',
      'rename P.pack',
      'sync packs',
      'sync P.idx.tmp',
      'rename P.idx',
      'sync packs',
    ]);
    // A publication whose sync of the pack's name failed syncs it again when retried.
    const y = chunk(9000, 18);
    await store.put(y.digest, y.bytes);
    faults.dirSyncFailures = 1;
    await expect(store.flush()).rejects.toThrow(/EIO/);
    faults.trace = [];
    await store.flush();
    const retry = faults.trace.map(pattern);
    expect(retry).toEqual([
      'sync .P.pack.tmp',
      'sync packs',
      'sync P.idx.tmp',
      'rename P.idx',
      'sync packs',
    ]);
    await store.close();
  });

  it('close removes a pack whose index could not be written, and keeps one whose index was', async () => {
    // The index cannot be written: nothing is left to hold the space.
    const root = await fresh();
    const store = await PackStore.open(root);
    const x = chunk(9000, 19);
    await store.put(x.digest, x.bytes);
    faults.afterPackRename = async () => {
      faults.renameFailures = 5;
    };
    await expect(store.close()).rejects.toThrow(/ENOSPC/);
    faults.renameFailures = 0;
    expect(await readdir(join(root, 'packs'))).toEqual([]);
    // The index was written and the sync after it failed: the pack is published, and stays.
    const synced = await fresh();
    const durable = await PackStore.open(synced, { fsync: true });
    await durable.put(x.digest, x.bytes);
    faults.dirSyncFailAfter = 1;
    await expect(durable.close()).rejects.toThrow(/EIO/);
    const again = await PackStore.open(synced);
    expectBytes(await again.get(x.digest), x.bytes);
    await again.close();
  });

  it('a pack that could not be opened for reading is opened again by the next get', async () => {
    const root = await fresh();
    const x = chunk(9000, 16);
    const writer = await PackStore.open(root);
    await writer.put(x.digest, x.bytes);
    await writer.close();
    const store = await PackStore.open(root);
    faults.packOpenFailures = 1;
    await expect(store.get(x.digest)).rejects.toThrow(/EMFILE/);
    expectBytes(await store.get(x.digest), x.bytes);
    await store.close();
    // Nor does a closed store open files that nothing would close.
    await expect(store.get(x.digest)).rejects.toThrow(/is closed/);
  });

  it("another writer's sweep between a pack's rename and its index leaves the pack alone", async () => {
    const root = await fresh();
    const w = await PackStore.open(root);
    const a = chunk(7000, 17);
    await w.put(a.digest, a.bytes);
    // Its last record was written two hours ago; the rename keeps that time.
    const dir = join(root, 'packs');
    const tmp = (await readdir(dir)).find((n) => n.endsWith('.pack.tmp'))!;
    const old = (Date.now() - 2 * 3600 * 1000) / 1000;
    await utimes(join(dir, tmp), old, old);
    faults.afterPackRename = async () => {
      const other = await PackStore.open(root, { removeStaleAfterMs: 3600 * 1000 });
      const b = chunk(7000, 18);
      await other.put(b.digest, b.bytes);
      await other.close();
    };
    await w.flush();
    await w.close();
    const r = await PackStore.open(root);
    expectBytes(await r.get(a.digest), a.bytes);
    await r.close();
  });

  it('reads concurrently from more packs than it keeps open', async () => {
    const root = await fresh();
    const xs = [chunk(9000, 10), chunk(9000, 11), chunk(9000, 12), chunk(9000, 13)];
    for (const x of xs) {
      const s = await PackStore.open(root);
      await s.put(x.digest, x.bytes);
      await s.close();
    }
    const store = await PackStore.open(root, { openFiles: 1 });
    const got = await Promise.all(xs.map((x) => store.get(x.digest)));
    for (const [i, g] of got.entries()) expectBytes(g, xs[i]!.bytes);
    await store.close();
  });
});
