/**
 * Chunked indexes: `convert` writes a small root and keeps the flat index as content-defined
 * chunks in the store. The root round-trips, reads back the same flat index, costs only the
 * changed index chunks for a small change, adds levels of indirection for big indexes, and
 * every way a root or its index chunks can lie ends in a typed error, never a hang.
 */
import { describe, expect, it } from 'vitest';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  LayerdiffError,
  RecordFormatError,
} from '../../src/errors.js';
import { INDEX_MAGIC } from '../../src/format/encoder.js';
import { decodeRoot, encodeRoot, packRefs, ROOT_MAGIC } from '../../src/format/root.js';
import { formatDigest } from '../../src/hash/digest.js';
import { createIndexChunker } from '../../src/pipeline/chunk-index.js';
import { openIndex } from '../../src/pipeline/open-index.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { ChunkReader } from '../../src/store/types.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, flatIndex, hash, reassembleBytes } from '../helpers/layers.js';
import { collect, readUntilError, sha256, streamOf, within } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

/** Small data chunks, so that a few MiB give an index of many index chunks. */
const CHUNKER = { min: 64, avg: 256, max: 1024 };

/** A store view whose `get` changes or counts what it returns. */
function view(
  store: MemoryStore,
  change: (digest: string, bytes: Uint8Array) => Uint8Array | undefined = (_, b) => b,
): ChunkReader {
  return {
    async get(d) {
      const out = change(d, await store.get(d));
      if (!out) throw new ChunkNotFoundError(d);
      return out;
    },
  };
}

/** `store`, counting the chunks read through it. */
function counted(store: MemoryStore): { store: ChunkReader; gets: number } {
  const c = {
    gets: 0,
    store: view(store, (_, b) => {
      c.gets++;
      return b;
    }),
  };
  return c;
}

async function setup(size = 2 << 20) {
  const big = pseudoRandom(size, 7);
  const tar = tarOf([
    ['a.txt', new TextEncoder().encode('small file\n')],
    ['big.bin', big],
  ]);
  const store = new MemoryStore();
  const { index, result } = await convertBytes(tar, store, { chunker: CHUNKER });
  return { tar, big, store, index, result };
}

/** Puts `bytes` into `store` as a chunk; returns its reference. */
async function putRef(store: MemoryStore, bytes: Uint8Array) {
  const digest = await hash.digest(bytes);
  await store.put(formatDigest(digest), bytes);
  return { digest, length: bytes.length };
}

describe('chunked index', () => {
  it('round-trips through a small root, and reads back the flat index convert would write', async () => {
    const { tar, store, index, result } = await setup();
    expect(index.subarray(0, 8)).toEqual(ROOT_MAGIC);
    expect(sha256(await reassembleBytes(index, store, 100))).toBe(sha256(tar));
    const flat = await convertBytes(tar, new MemoryStore(), { chunker: CHUNKER, index: 'flat' });
    expect(await flatIndex(index, store)).toEqual(flat.index);
    const stats = result.index!;
    expect(stats.indexBytes).toBe(flat.index.length);
    expect(stats.rootBytes).toBe(index.length);
    expect(stats.newIndexChunks).toBe(stats.indexChunks);
    // ~8 KiB index chunks: the root is a few percent of the flat index.
    expect(index.length).toBeLessThan(flat.index.length / 50);
    const root = decodeRoot(index);
    expect(root.size).toBe(flat.index.length);
    expect(formatDigest(root.end.diffId)).toBe(result.diffId);
  });

  it('costs only the changed index chunks after a one-byte change', async () => {
    const { big, store, result: first } = await setup();
    const changed = big.slice();
    changed[changed.length >> 1]! ^= 0xff;
    const tar2 = tarOf([
      ['a.txt', new TextEncoder().encode('small file\n')],
      ['big.bin', changed],
    ]);
    const { index, result } = await convertBytes(tar2, store, { chunker: CHUNKER });
    const s = result.index!;
    // A 2 MiB body in ~256-byte chunks has a flat index of a few hundred KiB ...
    expect(s.indexBytes).toBeGreaterThan(200_000);
    // ... of which only the chunks around the change and the end record are new.
    expect(s.newIndexChunks).toBeLessThanOrEqual(4);
    expect(s.newIndexBytes).toBeLessThan(s.indexBytes / 10);
    expect(result.newChunks).toBeLessThanOrEqual(3);
    expect(first.diffId).not.toBe(result.diffId);
    expect(sha256(await reassembleBytes(index, store))).toBe(sha256(tar2));
  });

  it('gives the same root for any input split', async () => {
    const { tar, index } = await setup(100_000);
    for (const sizes of [1, [7, 4096, 3], 65_536]) {
      const again = await convertBytes(tar, new MemoryStore(), { chunker: CHUNKER, sizes });
      expect(again.index).toEqual(index);
    }
  });

  it('adds levels of indirection when the root would hold too many references', async () => {
    const { store, index } = await setup();
    const flat = await flatIndex(index, store);
    for (const [maxRootRefs, chunker] of [
      [1, {}],
      [4, {}],
      [50, { min: 64, avg: 128, max: 256 }],
    ] as const) {
      const s2 = new MemoryStore();
      let levels = -1;
      const root = await collect(
        streamOf(flat, 999).pipeThrough(
          createIndexChunker({
            store: s2,
            hash,
            maxRootRefs,
            chunker,
            onEnd: (stats) => {
              levels = stats.levels;
            },
          }),
        ),
      );
      expect(levels).toBeGreaterThan(0);
      expect(decodeRoot(root).levels).toBe(levels);
      expect(decodeRoot(root).refs.length).toBeLessThanOrEqual(maxRootRefs);
      expect(await collect(openIndex(streamOf(root), s2, { hash }))).toEqual(flat);
    }
  });

  it('refuses input that is not a flat index ending with its end record', async () => {
    const { store, index } = await setup(100_000);
    const flat = await flatIndex(index, store);
    for (const bad of [flat.subarray(0, flat.length - 3), flat.subarray(8), new Uint8Array(50)]) {
      const out = streamOf(bad).pipeThrough(createIndexChunker({ store: new MemoryStore(), hash }));
      const { error } = await within(readUntilError(out));
      expect(error).toBeInstanceOf(RecordFormatError);
    }
  });
});

describe('a hostile root or index chunks', () => {
  it('a missing or corrupt index chunk: ChunkNotFoundError / ChunkDigestError', async () => {
    const { store, index } = await setup(200_000);
    const victim = formatDigest(decodeRoot(index).refs[1]!.digest);
    const cases: Array<[ChunkReader, new (...a: never[]) => Error]> = [
      [view(store, (d, b) => (d === victim ? undefined : b)), ChunkNotFoundError],
      [view(store, (d, b) => (d === victim ? b.map((x) => x ^ 1) : b)), ChunkDigestError],
      [view(store, (d, b) => (d === victim ? b.subarray(1) : b)), ChunkDigestError],
    ];
    for (const [reader, type] of cases) {
      const { error } = await within(readUntilError(reassemble(streamOf(index), reader)));
      expect(error).toBeInstanceOf(type);
      expect((error as Error).message).toContain(victim);
    }
  });

  it('a truncated or damaged root: RecordFormatError at every cut and flip', async () => {
    const { store, index, tar } = await setup(100_000);
    for (let end = 0; end < index.length; end++) {
      const { error } = await within(
        readUntilError(reassemble(streamOf(index.subarray(0, end)), store)),
      );
      expect(error).toBeInstanceOf(RecordFormatError);
    }
    for (let at = 0; at < index.length; at++) {
      const bad = index.slice();
      bad[at]! ^= 0x20;
      const { bytes, error } = await within(readUntilError(reassemble(streamOf(bad), store)));
      // A flip in a digest names a chunk the store lacks; most others are format errors or
      // (inside the copied end record) a root that disagrees with its index. Only the chunker
      // description is not needed to read, so a flip there still gives the exact tar.
      if (error === undefined) expect(sha256(bytes)).toBe(sha256(tar));
      else expect(error).toBeInstanceOf(LayerdiffError);
    }
  });

  it('a root that lies about the size, the end record or the levels', async () => {
    const { store, index, tar } = await setup(200_000);
    const root = decodeRoot(index);
    const lies = [
      { ...root, size: root.size + 1 },
      { ...root, size: root.size - 1 },
      { ...root, endBytes: (await flatIndex(index, store)).subarray(8, 40) },
      { ...root, levels: 1 },
      // The same chunk over and over: stopped once it exceeds the size the root states.
      { ...root, refs: Array.from({ length: 500 }, () => root.refs[0]!) },
      { ...root, refs: root.refs.slice(1) },
    ];
    for (const lie of lies) {
      const { bytes, error } = await within(
        readUntilError(reassemble(streamOf(encodeRoot(lie)), store)),
      );
      expect(error).toBeInstanceOf(LayerdiffError);
      expect(bytes.length).toBeLessThan(tar.length);
    }
  });

  it("a root whose end record is another layer's is refused when the flat index's end record is an index chunk of its own", async () => {
    // The end record arrives last and alone: the output is complete before the root's copy of
    // it is compared, and that comparison must still fail the stream.
    const store = new MemoryStore();
    const one = await convertBytes(tarOf([['a.txt', new TextEncoder().encode('one\n')]]), store);
    const two = await convertBytes(tarOf([['b.txt', new TextEncoder().encode('two\n')]]), store);
    const [r1, r2] = [decodeRoot(one.index), decodeRoot(two.index)];
    const flat = await flatIndex(two.index, store);
    const at = flat.length - (r2.endBytes.length + 4);
    const refs = [];
    for (const piece of [flat.subarray(0, at), flat.subarray(at)]) {
      const digest = await hash.digest(piece);
      await store.put(formatDigest(digest), piece);
      refs.push({ digest, length: piece.length });
    }
    const forged = encodeRoot({ ...r2, refs, endBytes: r1.endBytes });
    for (const readAhead of [1, 4]) {
      const { error } = await within(
        readUntilError(reassemble(streamOf(forged), store, { hash, readAhead })),
      );
      expect(error).toBeInstanceOf(RecordFormatError);
    }
  });

  it('a root of empty or tiny index chunks repeated at every level is refused, not fetched', async () => {
    const { store, index } = await setup(100_000);
    const root = decodeRoot(index);
    const counting = counted(store);
    const ref = (bytes: Uint8Array) => putRef(store, bytes);
    // 10,000 references to the empty chunk, and 10,000 to that: 10^8 fetches of nothing, and
    // the size the root states never reached (refused where the references are unpacked).
    const empty = await ref(new Uint8Array(0));
    const a = await ref(packRefs(Array.from({ length: 10_000 }, () => empty)));
    const b = await ref(packRefs(Array.from({ length: 10_000 }, () => a)));
    // A valid start (magic, a frame of 1 MB), then 1-byte chunks: a fetch for every byte.
    const head = new Uint8Array(INDEX_MAGIC.length + 4);
    head.set(INDEX_MAGIC);
    new DataView(head.buffer).setUint32(INDEX_MAGIC.length, 1_000_000);
    const tiny = await ref(Uint8Array.of(7));
    const c = await ref(packRefs([await ref(head), ...Array.from({ length: 10_000 }, () => tiny)]));
    for (const [levels, refs, message] of [
      [2, [b], /packed chunk reference has length 0/],
      [1, [c], /index chunk 0 of level 0 holds fewer than 64 bytes and is not the last/],
    ] as const) {
      counting.gets = 0;
      const hostile = encodeRoot({ ...root, levels, refs: [...refs] });
      const { error } = await within(readUntilError(reassemble(streamOf(hostile), counting.store)));
      expect(error).toBeInstanceOf(RecordFormatError);
      expect((error as Error).message).toMatch(message);
      expect(counting.gets).toBeLessThan(10);
    }
  });

  it('a root repeating one index chunk is refused after 4,096 repeats, not fetched 20,000 times', async () => {
    const { store, index } = await setup(100_000);
    const root = decodeRoot(index);
    const counting = counted(store);
    const ref = (bytes: Uint8Array) => putRef(store, bytes);
    // 20,000 references to one 2 KiB chunk: 40 MB of flat index from 2 KiB of data.
    const chunk = await ref(pseudoRandom(2048, 5));
    const packed = await ref(packRefs(Array.from({ length: 20_000 }, () => chunk)));
    const hostile = encodeRoot({ ...root, levels: 1, refs: [packed], size: 20_000 * 2048 });
    counting.gets = 0;
    const { error } = await within(readUntilError(openIndex(streamOf(hostile), counting.store)));
    expect(error).toBeInstanceOf(RecordFormatError);
    expect((error as Error).message).toMatch(/repeats its chunks/);
    // 4,096 repeats, a fetch each, and the level above.
    expect(counting.gets).toBeLessThan(4_200);

    // Control: 20,000 distinct chunks of the index chunker's smallest size are all fetched (the
    // walk then fails on their bytes, which are no index), none taken for a repeat.
    const distinct: Array<{ digest: Uint8Array; length: number }> = [];
    for (let i = 0; i < 20_000; i++) distinct.push(await ref(pseudoRandom(root.chunker.min, i)));
    const many = await ref(packRefs(distinct));
    const size = 20_000 * root.chunker.min;
    counting.gets = 0;
    const control = await within(
      readUntilError(
        openIndex(streamOf(encodeRoot({ ...root, levels: 1, refs: [many], size })), counting.store),
      ),
    );
    expect((control.error as Error).message).not.toMatch(/repeats/);
    expect(counting.gets).toBe(20_001);
  });

  it('cancelling while an index chunk fetch hangs still settles', async () => {
    const { index } = await setup(100_000);
    const never: ChunkReader = { get: () => new Promise<Uint8Array>(() => {}) };
    const reader = reassemble(streamOf(index), never).getReader();
    const pending = reader.read();
    await within(reader.cancel('give up'));
    expect((await within(pending)).done).toBe(true);
  });

  it('a root naming an index over the size limit is refused before any fetch', async () => {
    const { store, index } = await setup(100_000);
    const root = decodeRoot(index);
    const counting = counted(store);
    const huge = encodeRoot({ ...root, size: 2 ** 53 - 1 });
    const { error } = await within(readUntilError(reassemble(streamOf(huge), counting.store)));
    expect(error).toBeInstanceOf(RecordFormatError);
    expect((error as Error).message).toMatch(/over the \d+-byte limit/);
    expect(counting.gets).toBe(0);
    // The same limit, set low, applies to a flat index as it streams.
    const flat = await flatIndex(index, store);
    const small = await within(
      readUntilError(reassemble(streamOf(flat), store, { index: { maxIndexBytes: 1000 } })),
    );
    expect(small.error).toBeInstanceOf(RecordFormatError);
  });

  it('cancelling while the root is still being read cancels the input', async () => {
    const { index } = await setup(100_000);
    let cancelled: unknown;
    let reads = 0;
    const slow = new ReadableStream<Uint8Array>(
      {
        async pull(c) {
          await new Promise((r) => setTimeout(r, 5));
          c.enqueue(index.subarray(0, Math.min(index.length - 1, 8 + reads++)));
        },
        cancel(reason) {
          cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const reader = openIndex(slow, new MemoryStore(), { hash }).getReader();
    const pending = reader.read().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    await within(reader.cancel('stop'));
    expect(cancelled).toBe('stop');
    await within(pending);
  });
});
