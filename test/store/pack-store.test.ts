import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChunkCodec } from '../../src/compress/chunk-codec.js';
import { ChunkDigestError, ChunkNotFoundError, PackFormatError } from '../../src/errors.js';
import { crc32 } from '../../src/hash/crc32.js';
import { formatDigest } from '../../src/hash/digest.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { FsStore, LZ4_SUFFIX } from '../../src/node/fs-store.js';
import { openStore } from '../../src/node/open-store.js';
import { PackStore } from '../../src/node/pack-store.js';
import { ChunkTable } from '../../src/store/chunk-table.js';
import { FilterKeys, FilterSet } from '../../src/store/pack-filter.js';
import {
  decodePackIndex,
  encodePackIndex,
  encodeRecordHeader,
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  PACK_MAGIC,
  type PackEntry,
  type PackIndexBuilder,
  RECORD_HEADER_BYTES,
} from '../../src/store/pack-format.js';
import { CLI, makeTar, requireDist, runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { flipStoredBit, packRecords } from '../helpers/packs.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { chunk, expectBytes, storeConformance } from './conformance.js';

const roots: string[] = [];
const fresh = async () => {
  const r = await mkdtemp(join(tmpdir(), 'layerdiff-pack-'));
  roots.push(r);
  return r;
};
afterAll(() => Promise.all(roots.map((r) => rm(r, { recursive: true, force: true }))));

/** Names in a store's packs directory. */
const packFiles = (root: string) => readdirSync(join(root, 'packs')).sort();

storeConformance('PackStore', async () => {
  const root = await fresh();
  const store = await PackStore.open(root);
  return {
    store,
    cleanup: async () => {
      await store.close();
      expect(packFiles(root).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    },
  };
});

const text = (n: number) => new TextEncoder().encode('layer chunk store '.repeat(n));

describe('PackStore', () => {
  it('appends chunks to a pack that other stores see once it is flushed', async () => {
    const root = await fresh();
    const a = await PackStore.open(root);
    const b = await PackStore.open(root);
    const c1 = chunk(70_000, 1);
    expect(await a.put(c1.digest, c1.bytes)).toBe(true);
    expect(await a.put(c1.digest, c1.bytes)).toBe(false);
    // Readable by its writer at once, from the pack still being written.
    expectBytes(await a.get(c1.digest), c1.bytes);
    expect(packFiles(root)).toEqual([expect.stringMatching(/^\..*\.pack\.tmp$/)]);
    await expect(b.get(c1.digest)).rejects.toBeInstanceOf(ChunkNotFoundError);
    await a.flush();
    const names = packFiles(root);
    expect(names).toHaveLength(2);
    expect(names[0]).toMatch(/^[0-9a-z]{9}-[0-9a-f]{16}\.idx$/);
    expect(names[1]).toBe(names[0]!.replace(/\.idx$/, '.pack'));
    // A miss makes a store look for packs published since it opened.
    expect(await b.has(c1.digest)).toBe(false);
    expectBytes(await b.get(c1.digest), c1.bytes);
    expect(await b.has(c1.digest)).toBe(true);
    await a.close();
    await b.close();
    const again = await PackStore.open(root);
    expect(again.chunks).toBe(1);
    expectBytes(await again.get(c1.digest), c1.bytes);
    await again.close();
  });

  it('stores each of concurrent puts of one chunk once', async () => {
    const root = await fresh();
    const s = await PackStore.open(root);
    const c = chunk(50_000, 2);
    const results = await Promise.all(Array.from({ length: 8 }, () => s.put(c.digest, c.bytes)));
    expect(results.filter(Boolean)).toEqual([true]);
    await s.close();
    expect(packRecords(root)).toHaveLength(1);
  });

  it('seals a pack at its size and starts another; compresses only what shrinks', async () => {
    const root = await fresh();
    const s = await PackStore.open(root, { packBytes: 1 << 20 });
    const chunks = Array.from({ length: 40 }, (_, i) => chunk(100_000, 100 + i));
    const words = { digest: sha256(text(5000)), bytes: text(5000) };
    for (const c of [...chunks, words]) await s.put(c.digest, c.bytes);
    await s.close();
    const records = packRecords(root);
    expect(records).toHaveLength(41);
    expect(new Set(records.map((r) => r.pack)).size).toBeGreaterThanOrEqual(4);
    const byDigest = new Map(records.map((r) => [r.digest, r]));
    expect(byDigest.get(words.digest)!.entry.coding).toBe('lz4-block');
    expect(byDigest.get(words.digest)!.entry.stored).toBeLessThan(words.bytes.length / 4);
    expect(byDigest.get(chunks[0]!.digest)!.entry.coding).toBe('identity');
    const again = await PackStore.open(root);
    for (const c of [...chunks, words]) expectBytes(await again.get(c.digest), c.bytes);
    await again.close();
  });

  /** A store of three chunks, one of each coding (LZ4, deflate, as they are). */
  async function everyCoding() {
    const root = await fresh();
    const words = [text(5000), text(7000), text(9000)];
    const codecs = [
      nodeChunkCodec({ algorithm: 'lz4' }),
      nodeChunkCodec({ level: 1 }),
      false,
    ] as const;
    for (const [i, codec] of codecs.entries()) {
      const s = await PackStore.open(root, { codec });
      await s.put(sha256(words[i]!), words[i]!);
      await s.close();
    }
    return { root, words, codecs };
  }

  it('compresses into the bytes put only when told they are scratch, and reads them back', async () => {
    const root = await fresh();
    const s = await PackStore.open(root, { codec: nodeChunkCodec({ algorithm: 'lz4' }) });
    const words = text(3000);
    const kept = words.slice();
    expect(await s.put(sha256(words), kept)).toBe(true);
    // Not scratch: the caller's bytes are left as they were.
    expect(kept).toEqual(words);
    const other = text(3001);
    // A view inside a larger buffer, as a chunk in its block is.
    const scratch = new Uint8Array(other.length + 200).subarray(100, 100 + other.length);
    scratch.set(other);
    expect(await s.put(sha256(other), scratch, { scratch: true })).toBe(true);
    // Scratch: the LZ4 block was written over them (and from them into the pack), and nothing
    // around them.
    expect(scratch).not.toEqual(other);
    const around = new Uint8Array(scratch.buffer);
    expect(around.subarray(0, 100).every((x) => x === 0)).toBe(true);
    expect(around.subarray(100 + other.length).every((x) => x === 0)).toBe(true);
    const random = pseudoRandom(70_000, 7);
    const asIs = random.slice();
    expect(await s.put(sha256(random), asIs, { scratch: true })).toBe(true);
    expect(asIs).toEqual(random);
    await s.flush();
    expect(
      packRecords(root)
        .map((r) => r.entry.coding)
        .sort(),
    ).toEqual(['identity', 'lz4-block', 'lz4-block']);
    for (const w of [words, other, random]) expectBytes(await s.get(sha256(w)), w);
    await s.close();
    const again = await PackStore.open(root);
    for (const w of [words, other, random]) expectBytes(await again.get(sha256(w)), w);
    await again.close();
  });

  it('reads chunks of every coding in one store, whatever codec it writes with', async () => {
    const { root, words, codecs } = await everyCoding();
    expect(
      packRecords(root)
        .map((r) => r.entry.coding)
        .sort(),
    ).toEqual(['deflate-raw', 'identity', 'lz4-block']);
    for (const codec of codecs) {
      const s = await PackStore.open(root, { codec });
      for (const w of words) expectBytes(await s.get(sha256(w)), w);
      await s.close();
    }
  });

  it('reads a chunk of every coding into a given buffer when it fits, blocking or not', async () => {
    const { root, words } = await everyCoding();
    for (const blocking of [false, true]) {
      const s = await PackStore.open(root, { blocking });
      for (const w of words) {
        const into = new Uint8Array(262_144).fill(0xee);
        const got = await s.get(sha256(w), into);
        expectBytes(got, w);
        // LZ4 and identity go into the buffer; deflate (node:zlib allocates) need not.
        const coding = packRecords(root).find((r) => r.digest === sha256(w))!.entry.coding;
        if (coding !== 'deflate-raw') expect(got.buffer).toBe(into.buffer);
        // Too small for the chunk: it comes in a buffer of the store's own.
        const small = new Uint8Array(1000);
        const other = await s.get(sha256(w), small);
        expectBytes(other, w);
        expect(other.buffer).not.toBe(small.buffer);
      }
      await s.close();
    }
  });

  it('a corrupt chunk read into a given buffer is still a digest error', async () => {
    const root = await fresh();
    const s = await PackStore.open(root, { codec: false });
    const c = chunk(80_000, 3);
    await s.put(c.digest, c.bytes);
    await s.close();
    flipStoredBit(packRecords(root)[0]!);
    const r = await PackStore.open(root);
    await expect(r.get(c.digest, new Uint8Array(131_072))).rejects.toBeInstanceOf(ChunkDigestError);
    await r.close();
  });

  it('a stored LZ4 block that does not decode is a bad copy, named with its pack and offset', async () => {
    const root = await fresh();
    const s = await PackStore.open(root);
    const bytes = text(1000);
    const c = { bytes, digest: sha256(bytes) };
    await s.put(c.digest, c.bytes);
    await s.close();
    const [r] = packRecords(root);
    expect(r!.entry.coding).toBe('lz4-block');
    // A first token of 15 literals whose length runs on in 255s to the block's end.
    const pack = await readFile(r!.pack);
    const at = r!.entry.offset + RECORD_HEADER_BYTES;
    pack[at] = 0xf0;
    pack.fill(0xff, at + 1, at + r!.entry.stored);
    writeFileSync(r!.pack, pack);
    const t = await PackStore.open(root);
    const err = await t.get(c.digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkDigestError);
    expect((err as Error).message).toContain(`${r!.pack} at ${r!.entry.offset}: `);
    expect((err as Error).message).toMatch(/LZ4 block/);
    await t.close();
  });

  it('with codec false stores chunks as they are', async () => {
    const root = await fresh();
    const s = await PackStore.open(root, { codec: false });
    await s.put(sha256(text(5000)), text(5000));
    await s.close();
    expect(packRecords(root)[0]!.entry.coding).toBe('identity');
  });

  it('a corrupt copy fails its read, is forgotten, and a later put repairs it for good', async () => {
    const root = await fresh();
    const s = await PackStore.open(root);
    const c = chunk(80_000, 3);
    await s.put(c.digest, c.bytes);
    await s.close();
    flipStoredBit(packRecords(root)[0]!);
    const t = await PackStore.open(root);
    const err = await t.get(c.digest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChunkDigestError);
    expect((err as Error).message).toContain(c.digest);
    expect((err as Error).message).toMatch(/\.pack at 8 holds 80000 bytes with digest/);
    expect(await t.has(c.digest)).toBe(false);
    expect(await t.put(c.digest, c.bytes)).toBe(true);
    expectBytes(await t.get(c.digest), c.bytes);
    await t.close();
    // Reopened, the later pack's good copy wins over the bad one.
    const u = await PackStore.open(root);
    expectBytes(await u.get(c.digest), c.bytes);
    await u.close();
  });

  it.each([0, 1])(
    'a bad copy does not hide a good one another writer stored (bad copy in pack %i)',
    async (bad) => {
      // Two writers that each stored the chunk: two packs hold it.
      const root = await fresh();
      const [s1, s2] = [await PackStore.open(root), await PackStore.open(root)];
      const c = chunk(60_000, 4);
      expect(await s1.put(c.digest, c.bytes)).toBe(true);
      await s1.close();
      expect(await s2.put(c.digest, c.bytes)).toBe(true);
      await s2.close();
      const records = packRecords(root).filter((r) => r.digest === c.digest);
      expect(records).toHaveLength(2);
      flipStoredBit(records[bad]!);
      const t = await PackStore.open(root);
      expectBytes(await t.get(c.digest), c.bytes);
      expectBytes(await t.get(c.digest), c.bytes);
      await t.close();
      // With both copies bad, the read fails, and a put stores a good one again.
      flipStoredBit(records[1 - bad]!);
      const u = await PackStore.open(root);
      await expect(u.get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      expect(await u.put(c.digest, c.bytes)).toBe(true);
      expectBytes(await u.get(c.digest), c.bytes);
      await u.close();
      const v = await PackStore.open(root);
      expectBytes(await v.get(c.digest), c.bytes);
      await v.close();
    },
  );

  it('an index entry pointing at another record is a digest error, not its bytes', async () => {
    const root = await fresh();
    const s = await PackStore.open(root);
    const [x, y] = [chunk(1000, 4), chunk(1000, 5)];
    await s.put(x.digest, x.bytes);
    await s.put(y.digest, y.bytes);
    await s.close();
    const [rx, ry] = packRecords(root);
    const swapped = [
      { ...rx!.entry, offset: ry!.entry.offset },
      { ...ry!.entry, offset: rx!.entry.offset },
    ];
    const packSize = (await readFile(rx!.pack)).length;
    writeFileSync(rx!.idx, encodePackIndex(swapped, packSize));
    const t = await PackStore.open(root);
    await expect(t.get(x.digest)).rejects.toThrow(/is of another chunk/);
    await t.close();
  });

  it.each([false, true])(
    'an index file changed after it was loaded is checked again where it is read (blocking: %s)',
    async (blocking) => {
      // The store keeps no record's place in memory: it takes it from the index entry it reads
      // to confirm the record, which is outside input again. A malformed entry is a bad copy:
      // reported, forgotten, and stored again by the next put.
      const root = await fresh();
      const s = await PackStore.open(root);
      const x = chunk(1000, 4);
      await s.put(x.digest, x.bytes);
      await s.close();
      const [rx] = packRecords(root);
      const good = await readFile(rx!.idx);
      const packSize = (await readFile(rx!.pack)).length;
      for (const [bad, pattern] of [
        [{ offset: packSize - 10 }, /record at \d+ lies outside the pack's/],
        [{ stored: 2 ** 31 }, /2147483648 bytes stored for a/],
      ] as const) {
        writeFileSync(rx!.idx, good);
        const [t, u] = [await PackStore.open(root, { blocking }), await PackStore.open(root)];
        // A well-formed index file (its checksum holds), whose one entry is wrong.
        writeFileSync(rx!.idx, encodePackIndex([{ ...rx!.entry, ...bad }], packSize));
        const err = await t.get(x.digest).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ChunkDigestError);
        expect((err as Error).message).toContain(`${rx!.idx}: `);
        expect((err as Error).message).toContain('(at byte 20)');
        expect((err as Error).message).toMatch(pattern);
        expect(await u.has(x.digest)).toBe(false);
        expect(await u.put(x.digest, x.bytes)).toBe(true);
        await u.flush();
        expectBytes(await t.get(x.digest), x.bytes);
        await Promise.all([t.close(), u.close()]);
        // The next round starts from the one good pack again.
        for (const f of packFiles(root)) {
          if (f.endsWith('.idx') && join(root, 'packs', f) !== rx!.idx)
            await rm(join(root, 'packs', f));
        }
      }
    },
  );

  it('a malformed entry of one copy does not hide the other copy', async () => {
    // Two writers each stored the chunk; the index tried first went bad after it was loaded.
    const root = await fresh();
    const [s1, s2] = [await PackStore.open(root), await PackStore.open(root)];
    const x = chunk(1000, 7);
    expect(await s1.put(x.digest, x.bytes)).toBe(true);
    expect(await s2.put(x.digest, x.bytes)).toBe(true);
    await Promise.all([s1.close(), s2.close()]);
    const t = await PackStore.open(root);
    const records = packRecords(root);
    expect(records).toHaveLength(2);
    // Indexes load in name order; the later one's record is tried first.
    const last = records[1]!;
    const packSize = (await readFile(last.pack)).length;
    writeFileSync(last.idx, encodePackIndex([{ ...last.entry, offset: packSize }], packSize));
    expectBytes(await t.get(x.digest), x.bytes);
    expect(await t.has(x.digest)).toBe(true);
    expect(await t.put(x.digest, x.bytes)).toBe(false);
    await t.close();
  });

  it.each([false, true])(
    'refuses a damaged store at open, naming the file (blocking: %s)',
    async (blocking) => {
      const make = async () => {
        const root = await fresh();
        const s = await PackStore.open(root);
        await s.put(chunk(5000, 6).digest, chunk(5000, 6).bytes);
        await s.close();
        return { root, rec: packRecords(root)[0]! };
      };
      const expectRefused = async (root: string, file: string, pattern: RegExp) => {
        const err = await PackStore.open(root, { blocking }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PackFormatError);
        expect((err as Error).message).toContain(file);
        expect((err as Error).message).toMatch(pattern);
      };
      {
        const { root, rec } = await make();
        truncateSync(rec.pack, rec.entry.offset + RECORD_HEADER_BYTES);
        await expectRefused(root, rec.pack, /pack is \d+ bytes; its index says/);
      }
      {
        const { root, rec } = await make();
        await rm(rec.pack);
        await expectRefused(root, rec.pack, /pack is missing/);
      }
      {
        const { root, rec } = await make();
        const idx = await readFile(rec.idx);
        idx[25]! ^= 1;
        writeFileSync(rec.idx, idx);
        await expectRefused(root, rec.idx, /checksum mismatch/);
      }
      {
        const { root, rec } = await make();
        await rm(rec.idx);
        mkdirSync(rec.idx);
        await expectRefused(root, rec.idx, /not a pack index/);
      }
    },
  );

  it('ignores files that are not published packs (temporary files, strangers)', async () => {
    const root = await fresh();
    mkdirSync(join(root, 'packs'), { recursive: true });
    writeFileSync(join(root, 'packs', '.abc.pack.tmp'), 'partial');
    writeFileSync(join(root, 'packs', 'notes.idx'), 'not ours');
    const s = await PackStore.open(root);
    expect(s.chunks).toBe(0);
    await s.close();
  });

  it('a writer removes temporary files a crash left, once they are a day old', async () => {
    const root = await fresh();
    const dir = join(root, 'packs');
    mkdirSync(dir, { recursive: true });
    const old = (Date.now() - 25 * 3600 * 1000) / 1000;
    const names = {
      stalePack: '.0mwyaaaaa-0123456789abcdef.pack.tmp',
      staleIdx: '0mwyaaaaa-0123456789abcdef.idx.0123456789ab.tmp',
      freshPack: '.0mwybbbbb-0123456789abcdef.pack.tmp',
      // A crash between a pack's rename and its index leaves a pack with no index.
      orphanPack: '0mwyccccc-0123456789abcdef.pack',
      freshOrphan: '0mwyddddd-0123456789abcdef.pack',
      stranger: 'notes.tmp',
    };
    for (const n of Object.values(names)) writeFileSync(join(dir, n), 'partial');
    for (const n of [names.stalePack, names.staleIdx, names.orphanPack, names.stranger])
      utimesSync(join(dir, n), old, old);
    // Readers delete nothing.
    const reader = await PackStore.open(root);
    await reader.close();
    expect(readdirSync(dir).sort()).toEqual(Object.values(names).sort());
    const writer = await PackStore.open(root);
    const x = chunk(5000, 1);
    await writer.put(x.digest, x.bytes);
    await writer.close();
    const left = readdirSync(dir);
    expect(left).not.toContain(names.stalePack);
    expect(left).not.toContain(names.staleIdx);
    expect(left).not.toContain(names.orphanPack);
    expect(left).toContain(names.freshOrphan);
    expect(left).toContain(names.freshPack);
    expect(left).toContain(names.stranger);
    // `false` keeps them.
    writeFileSync(join(dir, names.stalePack), 'partial');
    utimesSync(join(dir, names.stalePack), old, old);
    const keeper = await PackStore.open(root, { removeStaleAfterMs: false });
    const y = chunk(5000, 2);
    await keeper.put(y.digest, y.bytes);
    await keeper.close();
    expect(readdirSync(dir)).toContain(names.stalePack);
  });

  it('a writer whose open pack another swept fails one flush, then stores its chunks again', async () => {
    const root = await fresh();
    const w = await PackStore.open(root);
    const a = chunk(5000, 21);
    await w.put(a.digest, a.bytes);
    // The writer pauses for two hours; another one, sweeping after one, takes its pack.
    const dir = join(root, 'packs');
    const tmp = readdirSync(dir).find((n) => n.endsWith('.pack.tmp'))!;
    const old = (Date.now() - 2 * 3600 * 1000) / 1000;
    utimesSync(join(dir, tmp), old, old);
    const other = await PackStore.open(root, { removeStaleAfterMs: 3600 * 1000 });
    const b = chunk(5000, 22);
    await other.put(b.digest, b.bytes);
    await other.close();
    await expect(w.flush()).rejects.toThrow(/ENOENT/);
    // The chunk is no longer held: put stores it again, and later flushes succeed.
    expect(await w.has(a.digest)).toBe(false);
    expect(await w.put(a.digest, a.bytes)).toBe(true);
    await w.flush();
    await w.close();
    const r = await PackStore.open(root);
    expectBytes(await r.get(a.digest), a.bytes);
    expectBytes(await r.get(b.digest), b.bytes);
    await r.close();
  });

  it('a read under way keeps its handle when the pack it reads is given up, or the store closes', async () => {
    // FileHandle's readv, held at a gate: the reads below are under way while the writer gives
    // its swept pack up (and closes that pack's handle), and while the store closes.
    const probe = await open(__filename);
    await probe.close();
    const proto = Object.getPrototypeOf(probe) as {
      readv: (...args: unknown[]) => Promise<unknown>;
    };
    const readv = proto.readv;
    let release!: () => void;
    let reached!: () => void;
    const reading = () => {
      const gate = new Promise<void>((r) => {
        release = r;
      });
      return new Promise<void>((r) => {
        reached = r;
        proto.readv = async function (this: unknown, ...args: unknown[]) {
          proto.readv = readv;
          reached();
          await gate;
          return readv.apply(this, args);
        };
      });
    };
    /** Closes `store` while `read` is held at the gate: the close waits, and the read ends whole. */
    const closeWaitsFor = async (
      store: PackStore,
      read: Promise<Uint8Array>,
      bytes: Uint8Array,
    ) => {
      let closed = false;
      const closing = store.close().then(() => {
        closed = true;
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(false);
      release();
      expectBytes(await read, bytes);
      await closing;
    };
    try {
      const root = await fresh();
      const w = await PackStore.open(root);
      const a = chunk(5000, 31);
      await w.put(a.digest, a.bytes);
      const dir = join(root, 'packs');
      const tmp = readdirSync(dir).find((n) => n.endsWith('.pack.tmp'))!;
      await rm(join(dir, tmp));
      let started = reading();
      const got = w.get(a.digest);
      await started;
      await expect(w.flush()).rejects.toThrow(/ENOENT/);
      expect(await w.has(a.digest)).toBe(false);
      // Closing waits for the read on the pack given up too, which ends on the file it opened
      // (now unlinked).
      await closeWaitsFor(w, got, a.bytes);

      const s = await PackStore.open(root);
      const b = chunk(5000, 32);
      await s.put(b.digest, b.bytes);
      await s.flush();
      started = reading();
      const read = s.get(b.digest);
      await started;
      await closeWaitsFor(s, read, b.bytes);
    } finally {
      proto.readv = readv;
    }
  });

  it.runIf(toolsAvailable('mkfifo'))(
    'a FIFO put in place of a pack after it was loaded is a bad copy, found without hanging',
    async () => {
      const root = await fresh();
      const s = await PackStore.open(root);
      const a = chunk(5000, 33);
      await s.put(a.digest, a.bytes);
      await s.close();
      const t = await PackStore.open(root);
      const [rec] = packRecords(root);
      await rm(rec!.pack);
      execFileSync('mkfifo', [rec!.pack]);
      const err = await t.get(a.digest).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChunkDigestError);
      expect((err as Error).message).toContain(
        `${rec!.pack}: not a pack (not a regular file) (at byte 0)`,
      );
      // Forgotten: a put stores the chunk again, in a pack of its own.
      expect(await t.put(a.digest, a.bytes)).toBe(true);
      expectBytes(await t.get(a.digest), a.bytes);
      await t.close();
    },
  );

  it('a copy in a swept pack is no fallback: the chunk reads as bad, then a put repairs it', async () => {
    const root = await fresh();
    const dir = join(root, 'packs');
    const w = await PackStore.open(root);
    const c = chunk(7000, 23);
    await w.put(c.digest, c.bytes);
    // Another writer publishes the same chunk; once w sees it, w's own copy is the fallback.
    const x = await PackStore.open(root);
    await x.put(c.digest, c.bytes);
    await x.close();
    await w.refresh();
    // w's open pack is swept (w paused for two hours), so its copy is gone.
    const tmp = readdirSync(dir).find((n) => n.endsWith('.pack.tmp'))!;
    const old = (Date.now() - 2 * 3600 * 1000) / 1000;
    utimesSync(join(dir, tmp), old, old);
    const y = await PackStore.open(root, { removeStaleAfterMs: 3600 * 1000 });
    const d = chunk(5000, 24);
    await y.put(d.digest, d.bytes);
    await y.close();
    await expect(w.flush()).rejects.toThrow(/ENOENT/);
    // The published copy goes bad: no copy is left to fall back to.
    flipStoredBit(packRecords(root).find((r) => r.digest === c.digest)!);
    await expect(w.get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError);
    expect(await w.has(c.digest)).toBe(false);
    expect(await w.put(c.digest, c.bytes)).toBe(true);
    expectBytes(await w.get(c.digest), c.bytes);
    await w.close();
  });

  it('a get under way when the store closes opens no file that nothing would close', async () => {
    const root = await fresh();
    const s = await PackStore.open(root);
    const x = chunk(9000, 25);
    const w = await PackStore.open(root);
    await w.put(x.digest, x.bytes);
    await w.close();
    // s has not seen w's pack: the get looks at the directory first, and s closes meanwhile.
    const pending = s.get(x.digest);
    await s.close();
    await expect(pending).rejects.toThrow(/is closed/);
    const held = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(root);
      } catch {
        return false;
      }
    });
    expect(held).toEqual([]);
  });

  it("a digest sharing the first half of a stored chunk's digest is another chunk, absent", async () => {
    // Digests asked for come from indexes and diffs, outside input: a forged one must neither
    // pass for the stored chunk nor make the store forget it.
    const root = await fresh();
    const c = chunk(6000, 26);
    const raw = Buffer.from(c.digest.slice(7), 'hex');
    for (let i = 16; i < 32; i++) raw[i] = raw[i]! ^ 0xff;
    const fake = `sha256:${raw.toString('hex')}`;
    const w = await PackStore.open(root);
    await w.put(c.digest, c.bytes);
    const check = async (s: PackStore) => {
      expect(await s.has(fake)).toBe(false);
      await expect(s.get(fake)).rejects.toBeInstanceOf(ChunkNotFoundError);
      expect(await s.has(c.digest)).toBe(true);
      expectBytes(await s.get(c.digest), c.bytes);
    };
    await check(w);
    await w.close();
    const r = await PackStore.open(root);
    await check(r);
    await r.close();
  });

  it.each([
    ['after', 0],
    ['before', 1],
  ])(
    "a pack index that names a forged half-match %s the genuine chunk's pack hides nothing",
    async (_, forgedFirst) => {
      // Pack indexes are outside input too. A put trusts the digest it is given, which makes
      // the forged pack here; its bytes do not hash to that digest.
      const root = await fresh();
      const c = chunk(5000, 27);
      const raw = Buffer.from(c.digest.slice(7), 'hex');
      for (let i = 16; i < 32; i++) raw[i] = raw[i]! ^ 0xff;
      const forged = `sha256:${raw.toString('hex')}`;
      const order = forgedFirst ? [forged, c.digest] : [c.digest, forged];
      for (const d of order) {
        const s = await PackStore.open(root);
        expect(await s.put(d, c.bytes)).toBe(true);
        await s.close();
        // Pack names begin with the time: the second pack sorts after the first.
        await new Promise((r) => setTimeout(r, 5));
      }
      const s = await PackStore.open(root);
      expect(await s.has(c.digest)).toBe(true);
      expectBytes(await s.get(c.digest), c.bytes);
      expect(await s.has(forged)).toBe(true);
      await expect(s.get(forged)).rejects.toBeInstanceOf(ChunkDigestError);
      expect(await s.has(forged)).toBe(false);
      expectBytes(await s.get(c.digest), c.bytes);
      expect(await s.put(c.digest, c.bytes)).toBe(false);
      await s.close();
    },
  );

  it('a chunk beside a forged half-match that goes bad is forgotten, so a put repairs it', async () => {
    const root = await fresh();
    const c = chunk(5000, 28);
    const raw = Buffer.from(c.digest.slice(7), 'hex');
    for (let i = 16; i < 32; i++) raw[i] = raw[i]! ^ 0xff;
    const forged = `sha256:${raw.toString('hex')}`;
    for (const d of [forged, c.digest]) {
      const s = await PackStore.open(root);
      await s.put(d, c.bytes);
      await s.close();
      await new Promise((r) => setTimeout(r, 5));
    }
    flipStoredBit(packRecords(root).find((r) => r.digest === c.digest)!);
    const s = await PackStore.open(root);
    // The forged one is read (and forgotten) first: the genuine copy is left beside the table.
    await expect(s.get(forged)).rejects.toBeInstanceOf(ChunkDigestError);
    await expect(s.get(c.digest)).rejects.toBeInstanceOf(ChunkDigestError);
    expect(await s.has(c.digest)).toBe(false);
    expect(await s.put(c.digest, c.bytes)).toBe(true);
    expectBytes(await s.get(c.digest), c.bytes);
    await s.close();
  });

  it.each([false, true])(
    'finds records of sealed packs in blocks of their index files (blocking: %s)',
    async (blocking) => {
      // 700 records: three blocks of the index, looked up in random order, and after the
      // store reopens; digests not stored stay absent.
      const root = await fresh();
      const s = await PackStore.open(root, { blocking });
      const cs = Array.from({ length: 700 }, (_, i) => chunk(200 + (i % 50), 1000 + i));
      for (const c of cs) expect(await s.put(c.digest, c.bytes)).toBe(true);
      await s.flush();
      const order = cs.map((c, i) => ({ c, k: (i * 7919) % 701 })).sort((x, y) => x.k - y.k);
      const absent = chunk(300, 5000);
      for (const store of [s, await PackStore.open(root, { blocking })]) {
        for (const { c } of order) expect(await store.has(c.digest)).toBe(true);
        expect(await store.has(absent.digest)).toBe(false);
        const puts = await Promise.all(cs.slice(0, 300).map((c) => store.put(c.digest, c.bytes)));
        expect(puts.filter(Boolean)).toEqual([]);
        expectBytes(await store.get(cs[699]!.digest), cs[699]!.bytes);
        await store.close();
      }
      expect(packRecords(root)).toHaveLength(700);
    },
  );

  /** Writes a pack of `n` empty records of `raw` at offset 8, and an index listing them. */
  const emptyPack = (root: string, name: string, raw: Uint8Array, n: number, listed = n) => {
    const packSize = PACK_MAGIC.length + n * RECORD_HEADER_BYTES;
    const pack = join(root, 'packs', `${name}.pack`);
    const header = encodeRecordHeader({ digest: raw, coding: 'identity', stored: 0, raw: 0 });
    writeFileSync(pack, Buffer.concat([PACK_MAGIC, header]));
    truncateSync(pack, packSize);
    const entry = { digest: raw, offset: 8, coding: 'identity' as const, stored: 0, raw: 0 };
    writeFileSync(
      join(root, 'packs', `${name}.idx`),
      encodePackIndex(
        Array.from({ length: listed }, () => entry),
        packSize,
      ),
    );
  };

  it('an index that lists one digest again and again: one record kept', async () => {
    // Identical digests share a fingerprint whatever the keys: 50,000 records of one would
    // make one run of slots that every load and lookup of it walks (quadratic loading).
    const root = await fresh();
    mkdirSync(join(root, 'packs'));
    const empty = chunk(0, 0);
    const raw = Buffer.from(empty.digest.slice(7), 'hex');
    emptyPack(root, '00000000a-0123456789abcdef', raw, 50_000);
    const s = await PackStore.open(root);
    expect(s.chunks).toBe(1);
    expect(await s.has(empty.digest)).toBe(true);
    expectBytes(await s.get(empty.digest), empty.bytes);
    const other = chunk(100, 1);
    expect(await s.put(other.digest, other.bytes)).toBe(true);
    expectBytes(await s.get(other.digest), other.bytes);
    await s.close();
  });

  it('keeps 16 records of one chunk from the packs it loads, one per pack', async () => {
    const root = await fresh();
    mkdirSync(join(root, 'packs'));
    const empty = chunk(0, 0);
    const raw = Buffer.from(empty.digest.slice(7), 'hex');
    for (let i = 0; i < 20; i++)
      emptyPack(root, `00000000a-${i.toString(16).padStart(16, '0')}`, raw, 3);
    const s = await PackStore.open(root);
    expect(s.chunks).toBe(16);
    expectBytes(await s.get(empty.digest), empty.bytes);
    await s.close();
  });

  /**
   * Writes a pack of zeros whose index lists chunk `x` `listed` times, each at a record of its
   * own (bad: all zeros).
   */
  const badPack = (
    root: string,
    name: string,
    x: { digest: string; bytes: Uint8Array },
    listed: number,
  ) => {
    const raw = Buffer.from(x.digest.slice(7), 'hex');
    const stored = x.bytes.length;
    const path = join(root, 'packs', name);
    const packSize = PACK_MAGIC.length + listed * (RECORD_HEADER_BYTES + stored);
    writeFileSync(`${path}.pack`, PACK_MAGIC);
    truncateSync(`${path}.pack`, packSize);
    const entries = Array.from({ length: listed }, (_, i) => ({
      digest: raw,
      offset: PACK_MAGIC.length + i * (RECORD_HEADER_BYTES + stored),
      coding: 'identity' as const,
      stored,
      raw: stored,
    }));
    writeFileSync(`${path}.idx`, encodePackIndex(entries, packSize));
  };

  /** Stores a good copy of `x` apart, then copies its pack in under a name starting `prefix`. */
  const goodPack = async (
    root: string,
    prefix: string,
    x: { digest: string; bytes: Uint8Array },
  ) => {
    const s = await PackStore.open(join(root, 'elsewhere'));
    await s.put(x.digest, x.bytes);
    await s.close();
    for (const f of packFiles(join(root, 'elsewhere'))) {
      writeFileSync(
        join(root, 'packs', `${prefix}-${f.slice(10)}`),
        await readFile(join(root, 'elsewhere', 'packs', f)),
      );
    }
  };

  it.each([
    // Sorted indexes: every pack is filtered, and keeps its entry.
    [1, 21],
    // Indexes that list x twice are not sorted: their records go to the table, which keeps one
    // a pack, and 16 of one chunk; the good pack is filtered.
    [2, 17],
  ])(
    'a copy in the newest pack is kept however many older packs list the chunk (each %i times)',
    async (listed, records) => {
      // 20 older packs list x at bad records (zeros); a repair stored x again after them.
      const root = await fresh();
      mkdirSync(join(root, 'packs'));
      const x = chunk(1000, 10);
      for (let i = 0; i < 20; i++)
        badPack(root, `0000000a0-${i.toString(16).padStart(16, '0')}`, x, listed);
      await goodPack(root, '0000000z0', x);
      const t = await PackStore.open(root);
      expect(t.chunks).toBe(records);
      expectBytes(await t.get(x.digest), x.bytes);
      await t.close();
    },
  );

  it.each(['before', 'after'])(
    'an index listing a chunk again and again, at bad records, hides no good copy %s it',
    async (where) => {
      // A damaged index lists chunk x 40 times, each entry at zeros; another pack holds x. Packs
      // load in name order, and newer records are tried first.
      const root = await fresh();
      mkdirSync(join(root, 'packs'));
      const x = chunk(1000, 9);
      badPack(root, `0000000${where === 'before' ? 'b' : 'a'}0-0123456789abcdef`, x, 40);
      await goodPack(root, `0000000${where === 'before' ? 'a' : 'b'}0`, x);
      const t = await PackStore.open(root);
      expect(t.chunks).toBe(2);
      expectBytes(await t.get(x.digest), x.bytes);
      await t.close();
    },
  );

  describe('records of other chunks that share a fingerprint', () => {
    // The table keeps a fingerprint of each digest, not the digest. Here every digest shares
    // one home and one fingerprint, so that every record is a candidate for every lookup, and
    // only the digests in the record headers on disk tell chunks apart.
    const colliding = async (root: string, options = {}) => {
      const s = await PackStore.open(root, options);
      // The packs it loaded are loaded again, into the weak table, or into filters that let
      // every digest through.
      const inside = s as unknown as {
        table: ChunkTable;
        packs: unknown[];
        loaded: Set<string>;
        filterKeys: FilterKeys;
        filters: FilterSet;
        filtered: number[];
        filteredEntries: number;
      };
      inside.table = new ChunkTable(16, () => 0);
      inside.filterKeys = new FilterKeys(
        () => 0,
        () => 1,
      );
      inside.filters = new FilterSet();
      inside.filtered = [];
      inside.filteredEntries = 0;
      inside.packs = [];
      inside.loaded = new Set();
      await s.refresh();
      return s;
    };

    it('stores, finds and reads each chunk; a third is absent; none is forgotten', async () => {
      const root = await fresh();
      const s = await colliding(root);
      const [a, b, c] = [chunk(9000, 40), chunk(70_000, 41), chunk(3000, 42)];
      expect(await s.put(a.digest, a.bytes)).toBe(true);
      expect(await s.put(b.digest, b.bytes)).toBe(true);
      expect(await s.put(a.digest, a.bytes)).toBe(false);
      expect([await s.has(a.digest), await s.has(b.digest), await s.has(c.digest)]).toEqual([
        true,
        true,
        false,
      ]);
      expectBytes(await s.get(b.digest), b.bytes);
      expectBytes(await s.get(a.digest), a.bytes);
      await expect(s.get(c.digest)).rejects.toBeInstanceOf(ChunkNotFoundError);
      expect(s.chunks).toBe(2);
      await s.close();
      // Loaded from the pack's index by another store, the same.
      const t = await colliding(root, { blocking: true });
      expect(t.chunks).toBe(2);
      expectBytes(await t.get(a.digest), a.bytes);
      expectBytes(await t.get(b.digest), b.bytes);
      expect(await t.has(c.digest)).toBe(false);
      expect(await t.put(c.digest, c.bytes)).toBe(true);
      expect(await t.put(b.digest, b.bytes)).toBe(false);
      expectBytes(await t.get(c.digest), c.bytes);
      await t.close();
      expect(packRecords(root)).toHaveLength(3);
    });

    it('concurrent puts of chunks that share a fingerprint store each once', async () => {
      const root = await fresh();
      const s = await colliding(root);
      const cs = [chunk(5000, 43), chunk(6000, 44), chunk(7000, 45)];
      const results = await Promise.all([...cs, ...cs, ...cs].map((c) => s.put(c.digest, c.bytes)));
      expect(results.filter(Boolean)).toHaveLength(3);
      for (const c of cs) expectBytes(await s.get(c.digest), c.bytes);
      await s.close();
      expect(
        packRecords(root)
          .map((r) => r.digest)
          .sort(),
      ).toEqual(cs.map((c) => c.digest).sort());
    });

    it('a damaged record of another chunk is no copy of the chunk asked for', async () => {
      // x's index entry no longer matches its record (the header says 5000 bytes): reading z,
      // which shares x's fingerprint, must neither blame z nor skip the look for new packs.
      const root = await fresh();
      const x = chunk(5000, 48);
      const w = await PackStore.open(root, { codec: false });
      await w.put(x.digest, x.bytes);
      await w.close();
      const r = packRecords(root)[0]!;
      const idx = decodePackIndex(new Uint8Array(await readFile(r.idx)), r.idx);
      idx.entries[0]!.stored = 4000;
      idx.entries[0]!.raw = 4000;
      writeFileSync(r.idx, encodePackIndex(idx.entries, idx.packSize));
      const reader = await colliding(root);
      const z = chunk(6000, 49);
      const w2 = await PackStore.open(root);
      await w2.put(z.digest, z.bytes);
      await w2.close();
      expectBytes(await reader.get(z.digest), z.bytes);
      await expect(reader.get(chunk(7000, 50).digest)).rejects.toBeInstanceOf(ChunkNotFoundError);
      await expect(reader.get(x.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      await reader.close();
    });

    it('a bad copy of one chunk is forgotten; the others stay readable', async () => {
      const root = await fresh();
      const s = await colliding(root);
      const [a, b] = [chunk(8000, 46), chunk(8000, 47)];
      await s.put(a.digest, a.bytes);
      await s.put(b.digest, b.bytes);
      await s.close();
      flipStoredBit(packRecords(root).find((r) => r.digest === a.digest)!);
      const t = await colliding(root);
      await expect(t.get(a.digest)).rejects.toBeInstanceOf(ChunkDigestError);
      expect(await t.has(a.digest)).toBe(false);
      expectBytes(await t.get(b.digest), b.bytes);
      expect(t.chunks).toBe(1);
      expect(await t.put(a.digest, a.bytes)).toBe(true);
      expectBytes(await t.get(a.digest), a.bytes);
      await t.close();
    });
  });

  it('a put waiting on another put of its chunk while the store closes reports it stored', async () => {
    const s = await PackStore.open(await fresh());
    const x = chunk(20_000, 93);
    const first = s.put(x.digest, x.bytes);
    await new Promise((r) => setImmediate(r));
    const second = s.put(x.digest, x.bytes);
    await s.close();
    expect(await Promise.all([first, second])).toEqual([true, false]);
    // What a closed store holds can still be asked.
    expect(await s.has(x.digest)).toBe(true);
    expect(await s.has(chunk(10, 94).digest)).toBe(false);
  });

  describe('sorted indexes', () => {
    /** What a store holds in its table, and which packs it looks up on disk. */
    const inside = (s: PackStore) => s as unknown as { table: ChunkTable; filtered: number[] };

    it('a published pack leaves the table: its chunks are looked up in its index on disk', async () => {
      const root = await fresh();
      const s = await PackStore.open(root, { codec: false });
      // Five blocks of index entries.
      const cs = Array.from({ length: 300 }, (_, i) => chunk(100 + i, 1000 + i));
      for (const c of cs) expect(await s.put(c.digest, c.bytes)).toBe(true);
      expect(inside(s).table.size).toBe(300);
      await s.flush();
      expect(inside(s).table.size).toBe(0);
      expect(inside(s).filtered).toHaveLength(1);
      expect(s.chunks).toBe(300);
      // The index lists them in digest order.
      const sorted = cs.map((c) => c.digest).sort();
      expect(packRecords(root).map((r) => r.digest)).toEqual(sorted);
      for (const c of cs) {
        expect(await s.put(c.digest, c.bytes)).toBe(false);
        expectBytes(await s.get(c.digest), c.bytes);
      }
      expect(await s.has(chunk(5, 999).digest)).toBe(false);
      await s.close();
      const t = await PackStore.open(root, { blocking: true });
      expect(inside(t).table.size).toBe(0);
      expect(t.chunks).toBe(300);
      for (const c of [...cs].reverse()) {
        expect(await t.has(c.digest)).toBe(true);
        expectBytes(await t.get(c.digest), c.bytes);
      }
      await expect(t.get(chunk(5, 999).digest)).rejects.toBeInstanceOf(ChunkNotFoundError);
      await t.close();
      expect(packRecords(root)).toHaveLength(300);
    });

    it('an index in another order (older versions) is loaded into the table, and serves', async () => {
      const root = await fresh();
      const s = await PackStore.open(root);
      const cs = Array.from({ length: 5 }, (_, i) => chunk(3000 + i, 1400 + i));
      for (const c of cs) await s.put(c.digest, c.bytes);
      await s.close();
      const r = packRecords(root)[0]!;
      const sorted = new Uint8Array(await readFile(r.idx));
      // The same entries, last first, and the checksum to match.
      const body = sorted.length - 4;
      const reversed = sorted.slice();
      for (let i = 0; i < 5; i++) {
        const from = INDEX_HEADER_BYTES + (4 - i) * INDEX_ENTRY_BYTES;
        reversed.set(
          sorted.subarray(from, from + INDEX_ENTRY_BYTES),
          INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES,
        );
      }
      new DataView(reversed.buffer).setUint32(body, crc32(reversed.subarray(0, body)));
      writeFileSync(r.idx, reversed);
      const t = await PackStore.open(root);
      expect(inside(t).table.size).toBe(5);
      expect(inside(t).filtered).toHaveLength(0);
      for (const c of cs) {
        expect(await t.put(c.digest, c.bytes)).toBe(false);
        expectBytes(await t.get(c.digest), c.bytes);
      }
      const y = chunk(2000, 1410);
      expect(await t.put(y.digest, y.bytes)).toBe(true);
      await t.flush();
      expect(inside(t).table.size).toBe(5);
      expect(inside(t).filtered).toHaveLength(1);
      expect(t.chunks).toBe(6);
      expectBytes(await t.get(y.digest), y.bytes);
      await t.close();
    });

    it('keeps the index blocks in which it found a digest, not those read by chance', async () => {
      const root = await fresh();
      const w = await PackStore.open(root, { codec: false });
      const cs = Array.from({ length: 200 }, (_, i) => chunk(50 + i, 1500 + i));
      for (const c of cs) await w.put(c.digest, c.bytes);
      await w.close();
      const s = await PackStore.open(root, { codec: false });
      // Loaded again under filters that let every digest through.
      const st = s as unknown as {
        packs: unknown[];
        loaded: Set<string>;
        filterKeys: FilterKeys;
        filters: FilterSet;
        filtered: number[];
        filteredEntries: number;
        filterBlocks: Map<number, unknown>;
      };
      st.filterKeys = new FilterKeys(
        () => 0,
        () => 1,
      );
      st.filters = new FilterSet();
      st.packs = [];
      st.loaded = new Set();
      st.filtered = [];
      st.filteredEntries = 0;
      await s.refresh();
      expect(st.filtered).toHaveLength(1);
      // Absent digests: a block read for each, none kept.
      for (let i = 0; i < 20; i++) expect(await s.has(chunk(7, 1800 + i).digest)).toBe(false);
      expect(st.filterBlocks.size).toBe(0);
      for (const c of cs) expect(await s.has(c.digest)).toBe(true);
      // Every block of the index (200 entries, 64 a block).
      expect(st.filterBlocks.size).toBe(4);
      await s.close();
    });

    it('keeps index files open to read their blocks when not blocking, and closes them', async () => {
      const root = await fresh();
      const cs = Array.from({ length: 3 }, (_, i) => chunk(2000 + i, 1600 + i));
      // Three packs, one a writer.
      for (const c of cs) {
        const w = await PackStore.open(root);
        await w.put(c.digest, c.bytes);
        await w.close();
      }
      /** Descriptors this process holds on the store's index files. */
      const openIndexes = () =>
        readdirSync('/proc/self/fd').filter((fd) => {
          try {
            const target = readlinkSync(`/proc/self/fd/${fd}`);
            return target.startsWith(root) && target.endsWith('.idx');
          } catch {
            return false;
          }
        }).length;
      const s = await PackStore.open(root);
      expect(openIndexes()).toBe(0);
      for (const c of cs) expectBytes(await s.get(c.digest), c.bytes);
      for (const c of cs) expect(await s.has(c.digest)).toBe(true);
      expect(openIndexes()).toBe(3);
      await s.close();
      expect(openIndexes()).toBe(0);
      // A closed store can still be asked, and keeps nothing open.
      const t = await PackStore.open(root);
      await t.close();
      for (const c of cs) expect(await t.has(c.digest)).toBe(true);
      await new Promise((r) => setTimeout(r, 50));
      expect(openIndexes()).toBe(0);
    });

    it('a pack whose index would list a digest twice keeps its records in the table', async () => {
      // put never adds a digest twice to the pack it writes; should it, the index is not
      // strictly sorted, and its records must stay where they are found.
      const s = await PackStore.open(await fresh(), { codec: false });
      const x = chunk(3000, 1700);
      const y = chunk(3000, 1701);
      await s.put(x.digest, x.bytes);
      await s.put(y.digest, y.bytes);
      const packs = (s as unknown as { packs: { open?: { entries: PackIndexBuilder } }[] }).packs;
      const builder = packs[0]!.open!.entries;
      let first: PackEntry | undefined;
      builder.forEachDigest((digest, slot) => {
        if (formatDigest(digest) === x.digest) first = builder.find(slot, digest);
      });
      builder.add(first!);
      await s.flush();
      expect(inside(s).filtered).toHaveLength(0);
      expect(inside(s).table.size).toBe(2);
      for (const c of [x, y]) {
        expect(await s.has(c.digest)).toBe(true);
        expectBytes(await s.get(c.digest), c.bytes);
      }
      // (A store opened later refuses the index: its records claim more than the pack holds.)
      await s.close();
    });

    it("a put whose chunk's pack is published while it encodes stores it once", async () => {
      // The second put of x finds no copy, and waits in its encoding while the first put
      // stores x and the pack is published: x's record then moves from the table to a filter.
      const root = await fresh();
      let gate: Promise<void> | undefined;
      let open!: () => void;
      const codec: ChunkCodec = {
        encode: async (bytes) => {
          if (gate) await gate;
          return { coding: 'identity', bytes };
        },
        decode: async (c) => c.bytes,
      };
      const s = await PackStore.open(root, { codec });
      const x = chunk(4000, 1420);
      const first = s.put(x.digest, x.bytes);
      gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const second = s.put(x.digest, x.bytes);
      expect(await first).toBe(true);
      await s.flush();
      expect(inside(s).table.size).toBe(0);
      open();
      expect(await second).toBe(false);
      await s.close();
      expect(packRecords(root)).toHaveLength(1);
    });
  });

  it('refuses bad options', async () => {
    const root = await fresh();
    await expect(PackStore.open(root, { packBytes: 1000 })).rejects.toThrow(/packBytes/);
    await expect(PackStore.open(root, { removeStaleAfterMs: 0 })).rejects.toThrow(/removeStale/);
  });
});

describe('openStore', () => {
  it('creates packs by default, keeps an existing layout, refuses mixtures', async () => {
    const a = await fresh();
    const pack = await openStore(a);
    expect(pack).toBeInstanceOf(PackStore);
    await expect(openStore(a, { layout: 'loose' })).rejects.toThrow(/is a pack store/);
    const b = await fresh();
    expect(await openStore(b, { layout: 'loose' })).toBeInstanceOf(FsStore);
    expect(await openStore(b)).toBeInstanceOf(FsStore);
    mkdirSync(join(b, 'packs'));
    await expect(openStore(b)).rejects.toThrow(/holds both/);
    const c = await fresh();
    await expect(openStore(join(c, 'none'), { existing: true })).rejects.toThrow(
      /no layerdiff store/,
    );
    expect(existsSync(join(c, 'none'))).toBe(false);
    await expect(openStore(c, { layout: 'zip' as never })).rejects.toThrow(/layout/);
  });
});

describe.runIf(toolsAvailable('tar'))('store options on the command line', () => {
  it('--store-layout, --codec, --deflate-level; reading commands need an existing store', async () => {
    requireDist();
    const dir = await fresh();
    const words = new TextEncoder().encode('chunk store words '.repeat(20_000));
    const tar = makeTar(dir, 'l', { 'doc/words.txt': words, 'bin/x': pseudoRandom(200_000, 9) });
    const raw = join(dir, 'raw');
    const r = await runCli([
      'convert',
      tar,
      '--store',
      raw,
      '--deflate-level',
      '0',
      '--out',
      join(dir, 'r.idx'),
    ]);
    expect(r.stderr.toString()).toBe('');
    expect(packRecords(raw).every((x) => x.entry.coding === 'identity')).toBe(true);
    // LZ4 by default; deflate on request, by --codec or by a level.
    const codings = async (name: string, ...args: string[]) => {
      const s = join(dir, name);
      const c = await runCli([
        'convert',
        tar,
        '--store',
        s,
        '--out',
        join(dir, `${name}.idx`),
        ...args,
      ]);
      expect(c.stderr.toString()).toBe('');
      const out = join(dir, `${name}.tar`);
      await runCli(['cat', join(dir, `${name}.idx`), '--store', s, '--out', out]);
      expect(sha256(await readFile(out))).toBe(sha256(await readFile(tar)));
      return new Set(packRecords(s).map((x) => x.entry.coding));
    };
    expect(await codings('packed')).toEqual(new Set(['identity', 'lz4-block']));
    expect(await codings('lz4', '--codec', 'lz4')).toEqual(new Set(['identity', 'lz4-block']));
    expect(await codings('d', '--codec', 'deflate')).toEqual(new Set(['identity', 'deflate-raw']));
    expect(await codings('d1', '--deflate-level', '1')).toEqual(
      new Set(['identity', 'deflate-raw']),
    );
    expect(await codings('d9', '--codec', 'deflate', '--deflate-level', '9')).toEqual(
      new Set(['identity', 'deflate-raw']),
    );
    expect(await codings('none', '--codec', 'none')).toEqual(new Set(['identity']));

    const loose = join(dir, 'loose');
    const l = await runCli([
      'convert',
      tar,
      '--store',
      loose,
      '--store-layout',
      'loose',
      '--out',
      join(dir, 'l.idx'),
    ]);
    expect(l.stderr.toString()).toBe('');
    // The CLI's store closed: its lock is gone, the directory stays.
    expect(readdirSync(loose)).toEqual(['locks', 'sha256']);
    expect(readdirSync(join(loose, 'locks'))).toEqual([]);
    const looseFiles = readdirSync(join(loose, 'sha256'), { recursive: true }) as string[];
    expect(looseFiles.some((f) => f.endsWith(LZ4_SUFFIX))).toBe(true);
    const out = join(dir, 'l.tar');
    expect((await runCli(['cat', join(dir, 'l.idx'), '--store', loose, '--out', out])).code).toBe(
      0,
    );
    expect(sha256(await readFile(out))).toBe(sha256(await readFile(tar)));
    const mixed = await runCli([
      'convert',
      tar,
      '--store',
      loose,
      '--store-layout',
      'pack',
      '--out',
      join(dir, 'x.idx'),
    ]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr.toString()).toMatch(/is a loose store, not a pack one/);

    for (const bad of ['12', 'fast', '-1']) {
      const u = await runCli([
        'convert',
        tar,
        '--store',
        raw,
        '--deflate-level',
        bad,
        '--out',
        join(dir, 'u.idx'),
      ]);
      expect(u.code).toBe(2);
      expect(u.stderr.toString()).toMatch(/--deflate-level/);
    }
    for (const bad of [
      ['--codec', 'zstd'],
      ['--codec', 'lz4', '--deflate-level', '3'],
      ['--codec', 'none', '--deflate-level', '1'],
      ['--codec', 'deflate', '--deflate-level', '0'],
    ]) {
      const u = await runCli(['convert', tar, '--store', raw, ...bad, '--out', join(dir, 'u.idx')]);
      expect(u.code).toBe(2);
      expect(u.stderr.toString()).toMatch(/--codec/);
    }
    // --out /dev/stdout with standard output appended to a file: earlier content survives.
    const appended = join(dir, 'appended');
    writeFileSync(appended, 'PREVIOUS LINE\n');
    execFileSync('sh', [
      '-c',
      `"${process.execPath}" "${CLI}" convert "${tar}" --store "${raw}" --out /dev/stdout >> "${appended}"`,
    ]);
    const got = await readFile(appended);
    expect(got.subarray(0, 14).toString()).toBe('PREVIOUS LINE\n');
    expect(got.subarray(14, 18)).toEqual(Buffer.from([0x89, 0x4c, 0x44, 0x52]));
    // The summary went to standard error, not into the index.
    expect(got.includes('entries')).toBe(false);
    // Written through standard output itself: what the shell writes next follows the result.
    const grouped = join(dir, 'grouped.tar');
    execFileSync('sh', [
      '-c',
      `{ "${process.execPath}" "${CLI}" cat "${join(dir, 'r.idx')}" --store "${raw}" --out /dev/stdout; echo TRAILER; } > "${grouped}"`,
    ]);
    const tarBytes = await readFile(tar);
    const both = await readFile(grouped);
    expect(sha256(both.subarray(0, tarBytes.length))).toBe(sha256(tarBytes));
    expect(both.subarray(tarBytes.length).toString()).toBe('TRAILER\n');
    const missing = join(dir, 'no-store');
    const c = await runCli(['cat', join(dir, 'r.idx'), '--store', missing]);
    expect(c.code).toBe(1);
    expect(c.stderr.toString()).toMatch(/ERR_STORE: .*holds no layerdiff store/);
    expect(existsSync(missing)).toBe(false);
  });
});

describe.runIf(toolsAvailable('tar'))('PackStore shared by two processes', () => {
  it('two concurrent `convert`s into one store both succeed and rebuild exactly', async () => {
    requireDist();
    const dir = await fresh();
    const shared = pseudoRandom(3 << 20, 21);
    const a = makeTar(dir, 'a', {
      'usr/lib/shared.bin': shared,
      'etc/a.conf': pseudoRandom(70_000, 22),
    });
    const b = makeTar(dir, 'b', {
      'usr/lib/shared.bin': shared,
      'opt/b': pseudoRandom(400_000, 24),
    });
    const store = join(dir, 'store');
    const [ra, rb] = await Promise.all([
      runCli(['convert', a, '--store', store, '--out', join(dir, 'a.idx')]),
      runCli(['convert', b, '--store', store, '--out', join(dir, 'b.idx')]),
    ]);
    expect([ra.stderr.toString(), rb.stderr.toString()]).toEqual(['', '']);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    expect(packFiles(store).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    for (const [layer, index] of [
      [a, 'a.idx'],
      [b, 'b.idx'],
    ] as const) {
      const out = join(dir, `${index}.tar`);
      const cat = await runCli(['cat', join(dir, index), '--store', store, '--out', out]);
      expect(cat.stderr.toString()).toBe('');
      expect(sha256(await readFile(out))).toBe(sha256(await readFile(layer)));
    }
  });
});
