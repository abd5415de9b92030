/**
 * Garbage collection of stores: what no index refers to goes, what one does stays and rebuilds
 * byte for byte, in both layouts; packs are removed, rewritten or left as the thresholds say;
 * a dry run touches nothing; an index that cannot be read whole stops it before anything is
 * removed; a kept chunk that does not read back leaves its pack as it was; and the locks keep
 * a collection and open stores apart.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  PackFormatError,
  StoreLockedError,
} from '../../src/errors.js';
import { formatDigest } from '../../src/hash/digest.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { FsStore } from '../../src/node/fs-store.js';
import { collectGarbage } from '../../src/node/gc.js';
import { PackStore } from '../../src/node/pack-store.js';
import { LOCKS_DIR, lockExclusive } from '../../src/node/store-lock.js';
import { indexChunks } from '../../src/pipeline/open-index.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { dropRecord, flipStoredBit, packRecords, recordBytes } from '../helpers/packs.js';
import { sha256, streamOf, within } from '../helpers/streams.js';
import { buildTar } from './extract-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-gc-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(work, `s${n++}`);

/** Deterministic incompressible bytes. */
const bytesOf = (seed: string, size: number) => {
  const out = new Uint8Array(size);
  for (let at = 0, i = 0; at < size; i++) {
    const block = createHash('sha256').update(`${seed}/${i}`).digest();
    out.set(block.subarray(0, Math.min(32, size - at)), at);
    at += 32;
  }
  return out;
};

const shared = bytesOf('shared', 600_000);
const tarOf = (own: string) =>
  buildTar([
    { path: 'shared.bin', mode: 0o644, body: shared },
    { path: `${own}.bin`, mode: 0o644, body: bytesOf(own, 500_000) },
  ]).bytes;
const layers = { a: tarOf('a'), b: tarOf('b'), c: tarOf('c') };

/** Every chunk (index and data) an index refers to. */
async function chunksOf(index: Uint8Array, store: PackStore | FsStore): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const { ref } of indexChunks(streamOf(index), store, { hash })) {
    out.add(formatDigest(ref.digest));
  }
  return out;
}

type Layout = 'pack' | 'loose';
const open = (root: string, layout: Layout) =>
  layout === 'pack' ? PackStore.open(root) : FsStore.open(root);

/** Converts each layer in its own store session (a pack each), as separate commands would. */
/** A lock file's text, as a holder writes it. */
const lockText = (pid: number, host: string) =>
  `${JSON.stringify({ pid, host, since: '2026-01-01T00:00:00.000Z' })}\n`;

async function storeOf(root: string, layout: Layout, names: (keyof typeof layers)[]) {
  const indexes: Record<string, Uint8Array> = {};
  for (const name of names) {
    const store = await open(root, layout);
    indexes[name] = (await convertBytes(layers[name], store)).index;
    await store.close();
  }
  return indexes;
}

/** The store's files with their sizes. */
function filesOf(root: string): string[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const p = join(e.parentPath, e.name);
      return `${p.slice(root.length)} ${statSync(p).size}`;
    })
    .sort();
}

describe.each(['pack', 'loose'] as const)('collectGarbage, %s layout', (layout) => {
  it('removes what only a dropped index refers to; the kept layers rebuild byte for byte', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a', 'b', 'c']);
    let store = await open(root, layout);
    const a = await chunksOf(idx.a!, store);
    const b = await chunksOf(idx.b!, store);
    const c = await chunksOf(idx.c!, store);
    await store.close();
    const onlyB = [...b].filter((d) => !a.has(d) && !c.has(d));
    expect(onlyB.length).toBeGreaterThan(3);

    const report = await collectGarbage(root, [idx.a!, idx.c!], {
      hash,
      ...(layout === 'pack' ? { smallPackBytes: 0 } : {}),
    });
    expect(report.layout).toBe(layout);
    expect(report.referenced).toBe(new Set([...a, ...c]).size);
    expect(report.missing).toBe(0);
    expect(report.chunksRemoved).toBe(onlyB.length);
    expect(report.bytesAfter).toBeLessThan(report.bytesBefore);

    store = await open(root, layout);
    for (const d of onlyB) expect(await store.has(d)).toBe(false);
    for (const d of [...a, ...c]) expect(await store.has(d)).toBe(true);
    expect(sha256(await reassembleBytes(idx.a!, store))).toBe(sha256(layers.a));
    expect(sha256(await reassembleBytes(idx.c!, store))).toBe(sha256(layers.c));
    await expect(reassembleBytes(idx.b!, store)).rejects.toBeInstanceOf(ChunkNotFoundError);
    await store.close();

    // A second collection with the same indexes finds nothing more to remove.
    const again = await collectGarbage(root, [idx.a!, idx.c!], {
      hash,
      ...(layout === 'pack' ? { smallPackBytes: 0 } : {}),
    });
    expect(again.chunksRemoved).toBe(0);
    expect(again.bytesAfter).toBe(again.bytesBefore);
  });

  it('reads its indexes only once it holds the lock; refuses to keep nothing', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a', 'b']);
    const seen: boolean[] = [];
    async function* late() {
      seen.push(
        readdirSync(join(root, LOCKS_DIR)).some((n) => /^gc-\d+-[0-9a-f]{16}\.lock$/.test(n)),
      );
      yield idx.a!;
    }
    expect((await collectGarbage(root, late(), { hash })).indexes).toBe(1);
    expect(seen).toEqual([true]);
    const before = filesOf(root);
    await expect(collectGarbage(root, [], { hash })).rejects.toThrow(/at least one index/);
    expect(filesOf(root)).toEqual(before);
    // A directory with no store in it is left as it is.
    const empty = fresh();
    mkdirSync(empty);
    await expect(collectGarbage(empty, [idx.a!], { hash })).rejects.toThrow(
      /holds no layerdiff store/,
    );
    expect(readdirSync(empty)).toEqual([]);
  });

  it('removes what crashed writers left, whatever its age; a dry run only counts it', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a']);
    const left =
      layout === 'pack'
        ? [
            join(root, 'packs', '.0mx00aaaa-0123456789abcdef.pack.tmp'),
            join(root, 'packs', '0mx00aaaa-0123456789abcdee.idx.0123456789ab.tmp'),
            join(root, 'packs', '0mx00aaaa-0123456789abcded.pack'), // no index
          ]
        : [join(root, 'sha256', 'ab', `.${'ab'.repeat(32)}.0123456789ab.tmp`)];
    // Not a leftover: a name no writer makes.
    const other = join(root, layout === 'pack' ? 'packs' : 'sha256/ab', 'notes.txt');
    for (const f of [...left, other]) {
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, 'x');
    }
    const dry = await collectGarbage(root, [idx.a!], { hash, dryRun: true });
    expect(dry.leftovers).toBe(left.length);
    for (const f of left) expect(existsSync(f)).toBe(true);
    const real = await collectGarbage(root, [idx.a!], { hash });
    expect(real.leftovers).toBe(left.length);
    for (const f of left) expect(existsSync(f)).toBe(false);
    expect(existsSync(other)).toBe(true);
    const store = await open(root, layout);
    expect(sha256(await reassembleBytes(idx.a!, store))).toBe(sha256(layers.a));
    await store.close();
  });

  it('a dry run reports what the real run then does, and touches nothing', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a', 'b']);
    const before = filesOf(root);
    const dry = await collectGarbage(root, [idx.a!], { hash, dryRun: true });
    expect(filesOf(root)).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.chunksRemoved).toBeGreaterThan(0);
    const real = await collectGarbage(root, [idx.a!], { hash });
    expect(real.chunksRemoved).toBe(dry.chunksRemoved);
    expect(real.chunksBefore).toBe(dry.chunksBefore);
  });

  it('a dry run that reads a bad chunk writes nothing: no list, no file set aside', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a', 'b']);
    const store = await open(root, layout);
    const indexChunk = (await chunksOf(idx.b!, store)).values().next().value!;
    await store.close();
    // The first chunk listed is the root's index chunk, which the marking reads: damage it.
    if (layout === 'pack') {
      flipStoredBit(packRecords(root).find((r) => r.digest === indexChunk)!);
    } else {
      const hex = indexChunk.slice(7);
      const dir = join(root, 'sha256', hex.slice(0, 2));
      const file = join(dir, readdirSync(dir).find((f) => f.startsWith(hex))!);
      const bytes = readFileSync(file);
      bytes[bytes.length >> 1]! ^= 1;
      writeFileSync(file, bytes);
    }
    const before = filesOf(root);
    await expect(
      collectGarbage(root, [idx.a!, idx.b!], { hash, dryRun: true }),
    ).rejects.toBeInstanceOf(ChunkDigestError);
    expect(filesOf(root)).toEqual(before);
  });

  it('stops before removing anything when an index cannot be read whole', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a', 'b']);
    const store = await open(root, layout);
    const indexChunk = (await chunksOf(idx.b!, store)).values().next().value!;
    await store.close();
    // The first chunk listed is the root's index chunk: drop it from the store.
    if (layout === 'pack') {
      dropRecord(packRecords(root).find((r) => r.digest === indexChunk)!);
    } else {
      const hex = indexChunk.slice(7);
      const dir = join(root, 'sha256', hex.slice(0, 2));
      for (const f of readdirSync(dir)) if (f.startsWith(hex)) rmSync(join(dir, f));
    }
    const before = filesOf(root);
    await expect(collectGarbage(root, [idx.a!, idx.b!], { hash })).rejects.toBeInstanceOf(
      ChunkNotFoundError,
    );
    expect(filesOf(root)).toEqual(before);
    // Its lock is gone: the store opens.
    await (await open(root, layout)).close();
  });

  it('counts the data chunks an index refers to that the store lacks', async () => {
    const root = fresh();
    const idx = await storeOf(root, layout, ['a']);
    const store = await open(root, layout);
    const data: string[] = [];
    for await (const { kind, ref } of indexChunks(streamOf(idx.a!), store, { hash })) {
      if (kind === 'data') data.push(formatDigest(ref.digest));
    }
    await store.close();
    const gone = data[data.length - 1]!;
    if (layout === 'pack') dropRecord(packRecords(root).find((r) => r.digest === gone)!);
    else {
      const hex = gone.slice(7);
      const dir = join(root, 'sha256', hex.slice(0, 2));
      for (const f of readdirSync(dir)) if (f.startsWith(hex)) rmSync(join(dir, f));
    }
    const report = await collectGarbage(root, [idx.a!], { hash });
    expect(report.missing).toBe(1);
  });
});

describe('collectGarbage, pack layout', () => {
  it('removes packs with nothing kept, rewrites those over maxUnused, leaves the rest as they are', async () => {
    const root = fresh();
    // Pack 1: a; pack 2: b's own chunks (its shared ones are in pack 1); pack 3: c's.
    const idx = await storeOf(root, 'pack', ['a', 'b', 'c']);
    const packs = readdirSync(join(root, 'packs'))
      .filter((f) => f.endsWith('.pack'))
      .sort();
    expect(packs).toHaveLength(3);
    const [p1, p2, p3] = packs.map((f) => readFileSync(join(root, 'packs', f)));
    // Keep a and b: pack 3 goes, packs 1 and 2 are all kept.
    const r1 = await collectGarbage(root, [idx.a!, idx.b!], { hash, smallPackBytes: 0 });
    expect(r1.packs).toMatchObject({ before: 3, removed: 1, rewritten: 0, written: 0 });
    const left = readdirSync(join(root, 'packs'))
      .filter((f) => f.endsWith('.pack'))
      .sort();
    expect(left).toEqual(packs.slice(0, 2));
    expect(readFileSync(join(root, 'packs', left[0]!)).equals(p1!)).toBe(true);
    expect(readFileSync(join(root, 'packs', left[1]!)).equals(p2!)).toBe(true);
    void p3;
    // Keep b only: pack 1 holds a's own chunks (most of its bytes) beside the shared ones.
    // With maxUnused 1 it stays as it is; with the default it is rewritten.
    const r2 = await collectGarbage(root, [idx.b!], { hash, smallPackBytes: 0, maxUnused: 1 });
    expect(r2.packs).toMatchObject({ removed: 0, rewritten: 0 });
    expect(readFileSync(join(root, 'packs', left[0]!)).equals(p1!)).toBe(true);
    const r3 = await collectGarbage(root, [idx.b!], { hash, smallPackBytes: 0 });
    expect(r3.packs).toMatchObject({ removed: 0, rewritten: 1, written: 1 });
    expect(r3.bytesAfter).toBeLessThan(r3.bytesBefore - 400_000);
    const store = await PackStore.open(root);
    expect(sha256(await reassembleBytes(idx.b!, store))).toBe(sha256(layers.b));
    await store.close();
  });

  it('a damaged pack index stops it before anything is removed', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b']);
    const file = packRecords(root)[0]!.idx;
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 1; // its checksum
    writeFileSync(file, bytes);
    const before = filesOf(root);
    const err = await collectGarbage(root, [idx.a!], { hash }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackFormatError);
    expect((err as Error).message).toContain(file);
    expect(filesOf(root)).toEqual(before);
  });

  it('puts small packs together, and a chunk two packs held is kept once', async () => {
    const root = fresh();
    // Two writers store the same layer at once: every chunk twice, in two packs.
    const s1 = await PackStore.open(root);
    const s2 = await PackStore.open(root);
    const [x, y] = await Promise.all([convertBytes(layers.a, s1), convertBytes(layers.a, s2)]);
    await Promise.all([s1.close(), s2.close()]);
    expect(sha256(x.index)).toBe(sha256(y.index));
    const before = packRecords(root);
    expect(new Set(before.map((r) => r.pack)).size).toBe(2);
    const distinct = new Set(before.map((r) => r.digest));
    expect(before.length).toBe(distinct.size * 2);
    const report = await collectGarbage(root, [x.index], { hash, maxUnused: 1 });
    expect(report.packs).toMatchObject({ before: 2, removed: 0, rewritten: 2, written: 1 });
    const after = packRecords(root);
    expect(after.length).toBe(distinct.size);
    expect(new Set(after.map((r) => r.digest))).toEqual(distinct);
    const store = await PackStore.open(root);
    expect(sha256(await reassembleBytes(x.index, store))).toBe(sha256(layers.a));
    await store.close();
  });

  it('does not rewrite small packs that are full of records (a rewrite would change nothing)', async () => {
    const root = fresh();
    // Two packs of over 8,192 tiny chunks each: few bytes, but a quarter of a writer's record limit.
    const tiny = (tag: string) =>
      buildTar(
        Array.from({ length: 8_200 }, (_, i) => ({
          path: `${tag}${i}`,
          mode: 0o644,
          body: `${tag} ${i}`,
        })),
      ).bytes;
    const indexes: Uint8Array[] = [];
    for (const tag of ['x', 'y']) {
      const store = await PackStore.open(root, { blocking: true, codec: false });
      indexes.push((await convertBytes(tiny(tag), store)).index);
      await store.close();
    }
    const full = await collectGarbage(root, indexes, { hash, dryRun: true });
    expect(full.packs).toMatchObject({ before: 2, removed: 0, rewritten: 0 });
    // A third, small and not full, is put together with neither of them, nor alone.
    const store = await PackStore.open(root);
    indexes.push((await convertBytes(layers.a, store)).index);
    await store.close();
    const third = await collectGarbage(root, indexes, { hash, dryRun: true });
    expect(third.packs).toMatchObject({ before: 3, removed: 0, rewritten: 0 });
  });

  it('drops the copies a newer pack that stays holds too, unless that copy is bad', async () => {
    const twice = async () => {
      const root = fresh();
      const s1 = await PackStore.open(root);
      const s2 = await PackStore.open(root);
      const [x] = await Promise.all([convertBytes(layers.a, s1), convertBytes(layers.a, s2)]);
      await Promise.all([s1.close(), s2.close()]);
      return { root, index: x.index, records: packRecords(root) };
    };
    // No packs put together here (smallPackBytes 0): only the older pack's copies are due.
    const one = await twice();
    const distinct = new Set(one.records.map((r) => r.digest));
    const r1 = await collectGarbage(one.root, [one.index], { hash, smallPackBytes: 0 });
    expect(r1.packs).toMatchObject({ before: 2, removed: 0, rewritten: 1, written: 0 });
    expect(r1.chunksRemoved).toBe(distinct.size);
    const newer = [...new Set(one.records.map((r) => r.pack))].sort()[1]!;
    expect(packRecords(one.root).every((r) => r.pack === newer)).toBe(true);
    let store = await PackStore.open(one.root);
    expect(sha256(await reassembleBytes(one.index, store))).toBe(sha256(layers.a));
    await store.close();

    // The newer pack's copy of one chunk is bad: the older pack's good copy is kept.
    const two = await twice();
    const packs = [...new Set(two.records.map((r) => r.pack))].sort();
    const bad = two.records.find((r) => r.pack === packs[1] && r.entry.stored > 1000)!;
    flipStoredBit(bad);
    const r2 = await collectGarbage(two.root, [two.index], { hash, smallPackBytes: 0 });
    expect(r2.packs).toMatchObject({ rewritten: 1, written: 1 });
    const copies = packRecords(two.root).filter((r) => r.digest === bad.digest);
    // The bad copy stays where it was (its pack stays), a good one in the new pack.
    expect(copies.map((r) => r.pack === bad.pack).sort()).toEqual([false, true]);
    expect(sha256(recordBytes(copies.find((r) => r.pack !== bad.pack)!))).toBe(bad.digest);
    store = await PackStore.open(two.root);
    expect(sha256(await reassembleBytes(two.index, store))).toBe(sha256(layers.a));
    await store.close();
  });

  it('a rewrite keeps each chunk coded as it was, unless told a codec', async () => {
    const text = new TextEncoder().encode('a line of text that compresses well\n'.repeat(20_000));
    const tar = buildTar([{ path: 'words.txt', mode: 0o644, body: text }]).bytes;
    const codings = (root: string) => new Set(packRecords(root).map((r) => r.entry.coding));
    for (const [algorithm, coding] of [
      ['deflate', 'deflate-raw'],
      ['lz4', 'lz4-block'],
    ] as const) {
      const root = fresh();
      const indexes: Uint8Array[] = [];
      // Two sessions, two small packs: a collection puts them together.
      for (const bytes of [tar, layers.a]) {
        const store = await PackStore.open(root, { codec: nodeChunkCodec({ algorithm }) });
        indexes.push((await convertBytes(bytes, store)).index);
        await store.close();
      }
      expect(codings(root)).toEqual(new Set(['identity', coding]));
      const r = await collectGarbage(root, indexes, { hash });
      expect(r.packs).toMatchObject({ before: 2, rewritten: 2, written: 1 });
      expect(codings(root)).toEqual(new Set(['identity', coding]));
      // Told none, it stores them as they are (the text's pack is due: a's chunks go).
      const r2 = await collectGarbage(root, [indexes[0]!], { hash, codec: false });
      expect(r2.packs).toMatchObject({ before: 1, rewritten: 1, written: 1 });
      expect(codings(root)).toEqual(new Set(['identity']));
      const store = await PackStore.open(root);
      expect(sha256(await reassembleBytes(indexes[0]!, store))).toBe(sha256(tar));
      await store.close();
    }
  });

  it('leaves a pack as it was when a kept chunk of it fails to read without proof, and reports what is on disk', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b', 'c']);
    const store = await PackStore.open(root);
    const b = await chunksOf(idx.b!, store);
    await store.close();
    // Keeping b, a's pack (the first) is due: a's own chunks are most of it; c's pack (the
    // third) goes. A chunk of the first that b shares, one of the last in the pack, fails to
    // read without proof that its record is bad (as when the pack ends early under the read),
    // so chunks of the pack are copied before the failure is found.
    const packs = readdirSync(join(root, 'packs'))
      .filter((f) => f.endsWith('.pack'))
      .sort();
    const records = packRecords(root);
    const victim = records
      .filter((r) => r.pack.endsWith(packs[0]!) && b.has(r.digest) && r.entry.stored > 1000)
      .sort((x, y) => y.entry.offset - x.entry.offset)[0]!;
    const get = PackStore.prototype.get;
    const spy = vi.spyOn(PackStore.prototype, 'get').mockImplementation(function (
      this: PackStore,
      digest,
      into,
    ) {
      if (digest === victim.digest) {
        return Promise.reject(new ChunkDigestError(digest, `${victim.pack} ends early`));
      }
      return get.call(this, digest, into);
    });
    const bytes = readFileSync(victim.pack);
    const onDisk = () =>
      readdirSync(join(root, 'packs'))
        .filter((f) => /\.(pack|idx)$/.test(f))
        .reduce((n, f) => n + statSync(join(root, 'packs', f)).size, 0);
    const bytesBefore = onDisk();
    let report: Awaited<ReturnType<typeof collectGarbage>>;
    try {
      report = await collectGarbage(root, [idx.b!], { hash, smallPackBytes: 0 });
    } finally {
      spy.mockRestore();
    }
    // Its other kept chunks were already copied into a new pack: copies too many, harmless.
    expect(report.packs).toMatchObject({ removed: 1, rewritten: 0, written: 1 });
    expect(report.packs!.damaged).toEqual([packs[0]!.slice(0, -'.pack'.length)]);
    expect(readFileSync(victim.pack).equals(bytes)).toBe(true);
    // The counts are those of the files: the third pack's records went, the copies came.
    const after = packRecords(root);
    const copies = after.filter((r) => !records.some((o) => o.pack === r.pack));
    expect(copies.length).toBeGreaterThan(0);
    expect(report.packs!.damagedCopies).toBe(copies.length);
    expect(report.chunksBefore).toBe(records.length);
    expect(report.chunksRemoved).toBe(records.filter((r) => r.pack.endsWith(packs[2]!)).length);
    expect(report.chunksBefore - report.chunksRemoved + report.packs!.damagedCopies).toBe(
      after.length,
    );
    expect(report.bytesBefore).toBe(bytesBefore);
    expect(report.bytesAfter).toBe(onDisk());
    expect(readdirSync(join(root, 'packs')).filter((f) => f.endsWith('.bad'))).toEqual([]);
  });
});

describe('collectGarbage, records found bad', () => {
  /** The `.bad` files of a store. */
  const lists = (root: string) =>
    readdirSync(join(root, 'packs')).filter((f) => f.endsWith('.bad'));
  /** Every record of the store is its chunk. */
  const allGood = (root: string) =>
    packRecords(root).every((r) => sha256(recordBytes(r)) === r.digest);
  /** Each layer of `idx` rebuilds byte for byte from the store. */
  async function rebuilds(root: string, idx: Record<string, Uint8Array>): Promise<void> {
    const store = await PackStore.open(root);
    for (const [name, index] of Object.entries(idx)) {
      expect(sha256(await reassembleBytes(index, store))).toBe(
        sha256(layers[name as keyof typeof layers]),
      );
    }
    await store.close();
  }
  /** A store of a, b, c, and a record of a chunk only b refers to, damaged. */
  async function damagedStore() {
    const found = await onlyBRecord();
    flipStoredBit(found.victim);
    return found;
  }
  /** A store of a, b, c, and a record (over 1000 bytes stored) of a chunk only b refers to. */
  async function onlyBRecord() {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b', 'c']);
    const store = await PackStore.open(root);
    const [a, b, c] = [
      await chunksOf(idx.a!, store),
      await chunksOf(idx.b!, store),
      await chunksOf(idx.c!, store),
    ];
    await store.close();
    const victim = packRecords(root).find(
      (r) => b.has(r.digest) && !a.has(r.digest) && !c.has(r.digest) && r.entry.stored > 1000,
    )!;
    return { root, idx, victim };
  }

  it('read bad, converted again, collected: no bad record, no list, every kept layer rebuilds', async () => {
    const { root, idx, victim } = await damagedStore();
    // A read finds the record bad (a process of its own), and lists it.
    let store = await PackStore.open(root);
    await expect(reassembleBytes(idx.b!, store)).rejects.toBeInstanceOf(ChunkDigestError);
    await store.close();
    expect(lists(root)).toHaveLength(1);
    // A new conversion stores the chunk again.
    store = await PackStore.open(root);
    const again = await convertBytes(layers.b, store);
    await store.close();
    expect(again.result.newChunks).toBe(1);
    const report = await collectGarbage(root, [idx.a!, idx.b!, idx.c!], { hash });
    expect(report.packs!.damaged).toEqual([]);
    expect(report.missing).toBe(0);
    expect(lists(root)).toEqual([]);
    expect(packRecords(root).some((r) => r.pack === victim.pack)).toBe(false);
    expect(allGood(root)).toBe(true);
    await rebuilds(root, idx);
  });

  it('a record the collection itself finds bad goes with its pack; the next conversion repairs', async () => {
    const { root, idx } = await damagedStore();
    // Nothing listed yet: the collection reads the chunk to rewrite its pack (kept: a, b).
    const report = await collectGarbage(root, [idx.a!, idx.b!], { hash });
    expect(report.packs!.damaged).toEqual([]);
    // Left out, and said so: b cannot be rebuilt until it is converted again.
    expect(report.missing).toBe(1);
    expect(lists(root)).toEqual([]);
    expect(allGood(root)).toBe(true);
    await rebuilds(root, { a: idx.a! });
    let store = await PackStore.open(root);
    await expect(reassembleBytes(idx.b!, store)).rejects.toBeInstanceOf(ChunkNotFoundError);
    await store.close();
    store = await PackStore.open(root);
    expect((await convertBytes(layers.b, store)).result.newChunks).toBe(1);
    await store.close();
    await rebuilds(root, { a: idx.a!, b: idx.b! });
  });

  it('a listed record the collection proves bad goes with its pack, counted missing once', async () => {
    const { root, idx, victim } = await damagedStore();
    writeFileSync(
      victim.pack.replace(/\.pack$/, '.bad'),
      `${victim.digest} ${victim.entry.offset}\n`,
    );
    const report = await collectGarbage(root, [idx.a!, idx.b!], { hash });
    expect(report.packs!.damaged).toEqual([]);
    expect(report.missing).toBe(1);
    expect(lists(root)).toEqual([]);
    expect(packRecords(root).some((r) => r.digest === victim.digest)).toBe(false);
    expect(allGood(root)).toBe(true);
    await rebuilds(root, { a: idx.a! });
  });

  it('a listed record whose read fails without proof keeps its pack as it was: it may be the only copy', async () => {
    // A good record of a chunk only b refers to, listed bad (wrongly), whose reads fail
    // without proof (as when the pack ends early under the read).
    const { root, idx, victim } = await onlyBRecord();
    const list = victim.pack.replace(/\.pack$/, '.bad');
    writeFileSync(list, `${victim.digest} ${victim.entry.offset}\n`);
    const get = PackStore.prototype.get;
    const spy = vi.spyOn(PackStore.prototype, 'get').mockImplementation(function (
      this: PackStore,
      digest,
      into,
    ) {
      if (digest === victim.digest) {
        return Promise.reject(new ChunkDigestError(digest, `${victim.pack} ends early`));
      }
      return get.call(this, digest, into);
    });
    const bytes = readFileSync(victim.pack);
    let report: Awaited<ReturnType<typeof collectGarbage>>;
    try {
      report = await collectGarbage(root, [idx.a!, idx.b!], { hash });
    } finally {
      spy.mockRestore();
    }
    // Not read back, so counted missing; but its pack, and its list, stay.
    expect(report.missing).toBe(1);
    expect(report.packs!.damaged).toEqual([basename(victim.pack, '.pack')]);
    expect(readFileSync(victim.pack).equals(bytes)).toBe(true);
    expect(existsSync(victim.idx)).toBe(true);
    expect(existsSync(list)).toBe(true);
    await rebuilds(root, { a: idx.a!, b: idx.b! });
  });

  it('a directory where a list would be fails no collection', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b', 'c']);
    const packs = readdirSync(join(root, 'packs')).filter((f) => f.endsWith('.pack'));
    for (const p of packs) mkdirSync(join(root, 'packs', p.replace(/\.pack$/, '.bad')));
    for (let i = 0; i < 2; i++) {
      const report = await collectGarbage(root, [idx.a!, idx.c!], { hash, smallPackBytes: 0 });
      expect(report.missing).toBe(0);
    }
    await rebuilds(root, { a: idx.a!, c: idx.c! });
  });

  it('a list naming good records (hostile or damaged) loses nothing: they are read, and kept', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b']);
    const records = packRecords(root);
    for (const pack of new Set(records.map((r) => r.pack))) {
      const lines = records
        .filter((r) => r.pack === pack)
        .map((r) => `${r.digest} ${r.entry.offset}\n`);
      writeFileSync(pack.replace(/\.pack$/, '.bad'), `garbage\0\n${lines.join('')}sha256:cut`);
    }
    const report = await collectGarbage(root, [idx.a!, idx.b!], { hash });
    expect(report.packs!.damaged).toEqual([]);
    expect(lists(root)).toEqual([]);
    expect(allGood(root)).toBe(true);
    await rebuilds(root, idx);
  });
});

describe('collectGarbage, property', () => {
  it('random layers over random sessions, random indexes kept: kept layers rebuild, nothing else stays', async () => {
    // Files drawn from a small pool, so that layers share chunks in every pattern.
    const pool = Array.from({ length: 8 }, (_, i) => bytesOf(`pool${i}`, 70_000 + i * 9_000));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Layout>('pack', 'loose'),
        fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }), {
          minLength: 2,
          maxLength: 5,
        }),
        fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 5, maxLength: 5 }),
        fc.constantFrom(0, 0.1, 1),
        async (layout, files, keep, sessions, maxUnused) => {
          const root = fresh();
          const tars = files.map(
            (f) =>
              buildTar(f.map((k, j) => ({ path: `f${j}-${k}`, mode: 0o644, body: pool[k]! })))
                .bytes,
          );
          // Layers converted in sessions of 1 to 3 (one pack each in a pack store).
          const indexes: Uint8Array[] = [];
          for (let i = 0; i < tars.length; ) {
            const store = await open(root, layout);
            for (const end = Math.min(tars.length, i + sessions[i]!); i < end; i++) {
              indexes.push((await convertBytes(tars[i]!, store)).index);
            }
            await store.close();
          }
          const kept = indexes.map((_, i) => i).filter((i) => keep[i]);
          if (kept.length === 0) kept.push(0);
          const report = await collectGarbage(
            root,
            kept.map((i) => indexes[i]!),
            { hash, maxUnused, smallPackBytes: maxUnused === 1 ? 0 : 64 * 1024 * 1024 },
          );
          expect(report.missing).toBe(0);
          const store = await open(root, layout);
          const wanted = new Set<string>();
          for (const i of kept) {
            for (const d of await chunksOf(indexes[i]!, store)) wanted.add(d);
            expect(sha256(await reassembleBytes(indexes[i]!, store))).toBe(sha256(tars[i]!));
          }
          await store.close();
          // What stays: every wanted chunk; others only in packs left as they were (below
          // maxUnused), or by the mark set's chance (about 1 in 2,200).
          if (layout === 'loose' || maxUnused === 0) {
            const held =
              layout === 'pack'
                ? new Set(packRecords(root).map((r) => r.digest))
                : new Set(
                    readdirSync(join(root, 'sha256'), { recursive: true })
                      .map(String)
                      .filter((f) => /[0-9a-f]{64}/.test(f))
                      .map((f) => `sha256:${/([0-9a-f]{64})/.exec(f)![1]}`),
                  );
            const extra = [...held].filter((d) => !wanted.has(d));
            expect(extra.length).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('store locks', () => {
  it('no collection while a store is open; no store opens while a collection runs', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b']);
    const open1 = await PackStore.open(root);
    const before = filesOf(root);
    const err = await collectGarbage(root, [idx.a!], { hash }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreLockedError);
    expect((err as StoreLockedError).code).toBe('ERR_STORE_LOCKED');
    expect((err as Error).message).toContain(`pid ${process.pid}`);
    expect(filesOf(root)).toEqual(before);
    await open1.close();

    const gc = await lockExclusive(root);
    await expect(PackStore.open(root)).rejects.toBeInstanceOf(StoreLockedError);
    await expect(FsStore.open(join(root, 'other'))).resolves.toBeDefined();
    await expect(lockExclusive(root)).rejects.toThrow(/already being garbage-collected/);
    await gc.release();
    // What the refused open created is gone: only the collection's own files come and go.
    expect(readdirSync(join(root, LOCKS_DIR))).toEqual([]);
    await (await PackStore.open(root)).close();
    expect((await collectGarbage(root, [idx.a!], { hash })).chunksRemoved).toBeGreaterThan(0);
  });

  it('lockWaitMs: a store waits for a collection to end, a collection for stores to close', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a']);
    const gc = await lockExclusive(root);
    setTimeout(() => void gc.release(), 300);
    const t = Date.now();
    const store = await within(PackStore.open(root, { lockWaitMs: 10_000 }));
    expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    setTimeout(() => void store.close(), 300);
    const report = await within(collectGarbage(root, [idx.a!], { hash, lockWaitMs: 10_000 }));
    expect(report.chunksRemoved).toBe(0);
    await expect(PackStore.open(root, { lockWaitMs: Number.NaN })).rejects.toThrow(/lockWaitMs/);
    // A wait that runs out ends as no wait does.
    const held = await PackStore.open(root);
    await expect(collectGarbage(root, [idx.a!], { hash, lockWaitMs: 200 })).rejects.toBeInstanceOf(
      StoreLockedError,
    );
    await held.close();
  });

  it('each collection holds a lock of its own: one gives way to another, and removes only its own', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a']);
    const dir = join(root, LOCKS_DIR);
    // A collection under way (this live process, by another lock's name).
    const other = join(dir, `gc-${process.pid}-${randomBytes(8).toString('hex')}.lock`);
    writeFileSync(other, lockText(process.pid, hostname()));
    await expect(collectGarbage(root, [idx.a!], { hash })).rejects.toThrow(
      /already being garbage-collected/,
    );
    await expect(PackStore.open(root)).rejects.toBeInstanceOf(StoreLockedError);
    // The one that gave way removed its own lock, and left the other's.
    expect(readdirSync(dir)).toEqual([basename(other)]);
    // A crashed collection's lock (its process gone) is removed by the next one, which runs.
    const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid']).toString());
    rmSync(other);
    const crashed = join(dir, `gc-${dead}-${randomBytes(8).toString('hex')}.lock`);
    writeFileSync(crashed, lockText(dead, hostname()));
    const held = await lockExclusive(root);
    expect(readdirSync(dir)).toEqual([basename(held.path!)]);
    await held.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a dry run holds a shared lock: it runs while a store is open, not while a collection runs, and removes no lock, stale or not', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a', 'b']);
    const dir = join(root, LOCKS_DIR);
    mkdirSync(dir, { recursive: true });
    const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid']).toString());
    const old = (Date.now() - 120_000) / 1000;
    // Stale, all of them: a crashed store's lock, a crashed collection's, an empty one, and a
    // lock taker's temporary file.
    for (const [name, text] of [
      [`${dead}-${randomBytes(8).toString('hex')}.lock`, lockText(dead, hostname())],
      [`gc-${dead}-${randomBytes(8).toString('hex')}.lock`, lockText(dead, hostname())],
      [`gc-1-${randomBytes(8).toString('hex')}.lock`, ''],
      [`.tmp-${dead}-${randomBytes(8).toString('hex')}`, lockText(dead, hostname())],
    ] as const) {
      writeFileSync(join(dir, name), text);
      utimesSync(join(dir, name), old, old);
    }
    const open1 = await PackStore.open(root);
    const before = filesOf(root);
    const dry = await collectGarbage(root, [idx.a!], { hash, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, locked: true });
    expect(dry.chunksRemoved).toBeGreaterThan(0);
    // Its own lock came and went; every other stayed.
    expect(filesOf(root)).toEqual(before);
    await open1.close();
    const gc = await lockExclusive(root);
    // The collection removed the stale ones.
    expect(readdirSync(dir)).toEqual([basename(gc.path!)]);
    await expect(collectGarbage(root, [idx.a!], { hash, dryRun: true })).rejects.toThrow(
      /being garbage-collected/,
    );
    await gc.release();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a collection removes the temporary lock files of takers that died, once a minute old; others stay', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a']);
    const dir = join(root, LOCKS_DIR);
    mkdirSync(dir, { recursive: true });
    const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid']).toString());
    const temp = (pid: number, text: string, age: number) => {
      const path = join(dir, `.tmp-${pid}-${randomBytes(8).toString('hex')}`);
      writeFileSync(path, text);
      const t = (Date.now() - age) / 1000;
      utimesSync(path, t, t);
      return path;
    };
    const gone = [
      temp(dead, lockText(dead, hostname()), 120_000),
      temp(dead, '', 120_000), // killed before it wrote
    ];
    const kept = [
      temp(dead, lockText(dead, hostname()), 0), // may be being linked
      temp(dead, '', 0),
      temp(dead, lockText(dead, `not-${hostname()}`), 120_000), // another host's
      temp(process.pid, lockText(process.pid, hostname()), 120_000), // a live process's
      temp(dead, 'not a lock', 120_000),
    ];
    const other = join(dir, '.tmp-notes');
    writeFileSync(other, '');
    utimesSync(other, 0, 0);
    kept.push(other);
    await collectGarbage(root, [idx.a!], { hash, dryRun: true });
    for (const f of [...gone, ...kept]) expect(existsSync(f)).toBe(true);
    await collectGarbage(root, [idx.a!], { hash });
    for (const f of gone) expect(existsSync(f)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(kept.map((f) => basename(f)).sort());
  });

  it('an empty lock file holds while it may be being written, and is stale after a minute', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a']);
    const dir = join(root, LOCKS_DIR);
    mkdirSync(dir, { recursive: true });
    const empty = join(dir, `gc-1-${randomBytes(8).toString('hex')}.lock`);
    writeFileSync(empty, '');
    await expect(PackStore.open(root)).rejects.toBeInstanceOf(StoreLockedError);
    const old = (Date.now() - 120_000) / 1000;
    utimesSync(empty, old, old);
    await (await PackStore.open(root)).close();
    await collectGarbage(root, [idx.a!], { hash });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock of a process of this host that no longer runs is stale; one of another host holds', async () => {
    const root = fresh();
    const idx = await storeOf(root, 'pack', ['a']);
    const dir = join(root, LOCKS_DIR);
    mkdirSync(dir, { recursive: true });
    // The pid of a process that has ended.
    const dead = Number(execFileSync(process.execPath, ['-p', 'process.pid']).toString());
    writeFileSync(
      join(dir, `${dead}-${randomBytes(8).toString('hex')}.lock`),
      lockText(dead, hostname()),
    );
    writeFileSync(join(dir, 'gc.lock'), lockText(dead, hostname()));
    // A store opens past the crashed collection's lock, and the collection removes both.
    await (await PackStore.open(root)).close();
    await collectGarbage(root, [idx.a!], { hash });
    expect(readdirSync(dir)).toEqual([]);
    const foreign = join(dir, `${dead}-${randomBytes(8).toString('hex')}.lock`);
    writeFileSync(foreign, lockText(dead, `not-${hostname()}`));
    await expect(collectGarbage(root, [idx.a!], { hash })).rejects.toThrow(
      new RegExp(`pid ${dead} on not-`),
    );
    writeFileSync(join(dir, 'gc.lock'), lockText(dead, `not-${hostname()}`));
    await expect(PackStore.open(root)).rejects.toBeInstanceOf(StoreLockedError);
    // Something else in the lock's place: it holds (it may be a lock being written), and
    // reading it never hangs, even a FIFO.
    rmSync(join(dir, 'gc.lock'));
    execFileSync('mkfifo', [join(dir, 'gc.lock')]);
    await expect(within(PackStore.open(root))).rejects.toThrow(
      /being garbage-collected: \S+gc\.lock$/,
    );
  });
});
