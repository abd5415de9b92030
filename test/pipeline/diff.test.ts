/**
 * Diff streams: a layer against the indexes a receiver already has becomes one ordered byte
 * stream of the missing chunks plus the new root; applying it rebuilds the exact layer. A
 * corrupt, truncated or incomplete diff is refused with a typed error and never leaves a chunk
 * in the receiver's store whose bytes do not match its digest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChunkCodec } from '../../src/compress/chunk-codec.js';
import { webChunkCodec } from '../../src/compress/chunk-codec.js';
import { loadLz4Codec } from '../../src/compress/lz4-codec.js';
import { DiffFormatError, DiffIncompleteError, LayerdiffError } from '../../src/errors.js';
import { diffHeader, encodeChunkFrame, encodeRootFrame } from '../../src/format/diff.js';
import { INDEX_MAGIC } from '../../src/format/encoder.js';
import { encodeRoot } from '../../src/format/root.js';
import { nodeChunkCodec } from '../../src/node/chunk-codec.js';
import { FsStore } from '../../src/node/fs-store.js';
import { applyDiff } from '../../src/pipeline/apply.js';
import { createDiff } from '../../src/pipeline/diff.js';
import { MemoryStore } from '../../src/store/memory.js';
import { listFiles } from '../cli/run.js';
import { oneChunkTwiceIndex, sha256 as rawSha256 } from '../format/helpers.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { collect, sha256, streamOf, within } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

const enc = (s: string) => new TextEncoder().encode(s);
const config = enc(
  Array.from({ length: 3000 }, (_, i) => `option.${i} = value ${i % 13}\n`).join(''),
);
const blob = pseudoRandom(1_500_000, 11);

const v1 = tarOf([
  ['etc/app.conf', config],
  ['usr/lib/blob.bin', blob],
]);
const changedBlob = blob.slice();
changedBlob[700_000]! ^= 0xff;
const v2 = tarOf([
  ['etc/app.conf', config],
  ['etc/new.txt', enc('a new file\n'.repeat(500))],
  ['usr/lib/blob.bin', changedBlob],
]);

/** Every chunk a store holds matches its name. */
async function cleanStore(store: MemoryStore): Promise<void> {
  for (const d of store.digests()) expect(sha256(await store.get(d))).toBe(d);
}

async function setup() {
  const sender = new MemoryStore();
  const { index: base } = await convertBytes(v1, sender);
  const receiver = new MemoryStore();
  for (const d of sender.digests()) await receiver.put(d, await sender.get(d));
  return { sender, receiver, base };
}

async function diffOf(
  layer: Uint8Array,
  bases: Uint8Array[],
  store: MemoryStore,
  codec: ChunkCodec = nodeChunkCodec(),
) {
  const { stream, done } = createDiff(streamOf(layer, 50_000), { bases, store, hash, codec });
  const bytes = await collect(stream);
  return { bytes, result: await done };
}

describe('diff + apply', () => {
  it('sends only what the base lacks, and applies to the exact layer', async () => {
    const { sender, receiver, base } = await setup();
    const { bytes, result } = await diffOf(v2, [base], sender);
    expect(result.diffBytes).toBe(bytes.length);
    expect(result.baseChunks).toBeGreaterThan(20);
    // The changed chunk of the blob, the new file, and a few index chunks.
    expect(result.sentChunks).toBeLessThanOrEqual(8);
    expect(bytes.length).toBeLessThan(v2.length / 4);
    const before = [...receiver.digests()].length;
    const applied = await applyDiff(streamOf(bytes, 7777), receiver, { hash });
    expect(applied.diffId).toBe(sha256(v2));
    expect(applied.newChunks).toBe(result.sentChunks);
    expect([...receiver.digests()].length).toBe(before + applied.newChunks);
    expect(applied.root).toEqual(
      (await convertBytes(v2, new MemoryStore())).index, // the same root convert writes
    );
    expect(sha256(await reassembleBytes(applied.root, receiver))).toBe(sha256(v2));
    await cleanStore(receiver);
  });

  it('compresses chunks that shrink, with any codec; a receiver decodes every coding', async () => {
    for (const codec of [
      nodeChunkCodec(),
      webChunkCodec(),
      nodeChunkCodec({ algorithm: 'lz4' }),
      await loadLz4Codec(),
    ]) {
      const { bytes, result } = await diffOf(v2, [], new MemoryStore(), codec);
      expect(result.sentEncodedBytes).toBeLessThan(result.sentBytes);
      const receiver = new MemoryStore();
      // The receiver's codec need not be the sender's.
      const applied = await applyDiff(streamOf(bytes), receiver, { hash, codec: webChunkCodec() });
      expect(sha256(await reassembleBytes(applied.root, receiver))).toBe(sha256(v2));
    }
  });

  it('without bases, a diff is self-contained', async () => {
    const { bytes } = await diffOf(v1, [], new MemoryStore());
    const receiver = new MemoryStore();
    const applied = await applyDiff(streamOf(bytes), receiver, { hash });
    expect(sha256(await reassembleBytes(applied.root, receiver))).toBe(sha256(v1));
  });

  it('a receiver without the base: DiffIncompleteError', async () => {
    const { sender, base } = await setup();
    const { bytes } = await diffOf(v2, [base], sender);
    const err = await applyDiff(streamOf(bytes), new MemoryStore(), { hash }).catch((e) => e);
    expect(err).toBeInstanceOf(DiffIncompleteError);
  });

  it('a corrupt or truncated diff: a typed error, and no bad chunk in the store', async () => {
    const { sender, base } = await setup();
    const { bytes } = await diffOf(v2, [base], sender);
    const held = await Promise.all(
      [...sender.digests()].map(async (d) => [d, await sender.get(d)] as const),
    );
    const positions = new Set<number>();
    for (let i = 0; i < 64; i++) positions.add(i);
    for (let i = 64; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 300))) {
      positions.add(i);
    }
    for (let i = bytes.length - 64; i < bytes.length; i++) positions.add(i);
    for (const at of positions) {
      for (const kind of ['flip', 'cut'] as const) {
        const receiver = new MemoryStore();
        for (const [d, b] of held) await receiver.put(d, b);
        const bad = kind === 'flip' ? bytes.slice() : bytes.subarray(0, at);
        if (kind === 'flip') bad[at]! ^= 0x10;
        const err = await within(applyDiff(streamOf(bad, 4096), receiver, { hash })).catch(
          (e) => e,
        );
        if (!(err instanceof LayerdiffError)) {
          // A flip that changes nothing the receiver relies on (e.g. inside the index chunker
          // description) may still apply; then the layer must come back exact.
          expect(sha256(await reassembleBytes(err.root, receiver))).toBe(sha256(v2));
        }
        await cleanStore(receiver);
      }
    }
  }, 60_000);

  it('completes under backpressure with several chunks stored at once', async () => {
    // A tiny buffer makes every concurrent chunk writer wait for the reader.
    const { stream, done } = createDiff(streamOf(v2, 10_000), {
      bases: [],
      store: new MemoryStore(),
      hash,
      concurrency: 4,
      chunker: { min: 1024, avg: 4096, max: 16384 },
      highWaterMark: 1,
    });
    const reader = stream.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const r = await within(reader.read());
      if (r.done) break;
      parts.push(r.value);
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    expect((await done).sentChunks).toBeGreaterThan(100);
    const receiver = new MemoryStore();
    const applied = await applyDiff(streamOf(concat(parts)), receiver, { hash });
    expect(sha256(await reassembleBytes(applied.root, receiver))).toBe(sha256(v2));
  });

  it('reads the layer only as the diff is read, and cancelling settles', async () => {
    const { sender, base } = await setup();
    let pulled = 0;
    let at = 0;
    let layerCancelled: unknown;
    const layer = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (at >= v2.length) return c.close();
          const piece = v2.slice(at, at + 16_384);
          at += piece.length;
          pulled += piece.length;
          c.enqueue(piece);
        },
        cancel(reason) {
          layerCancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const { stream, done } = createDiff(layer, {
      bases: [base],
      store: sender,
      hash,
      highWaterMark: 1,
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(pulled).toBe(0); // nothing before the first read
    const reader = stream.getReader();
    expect((await reader.read()).done).toBe(false); // the header
    await within(reader.cancel('stop'));
    await expect(within(done)).rejects.toBe('stop');
    expect(pulled).toBeLessThan(v2.length);
    // The cancel reaches the layer, back through the converter's stages.
    for (let turn = 0; turn < 100 && layerCancelled === undefined; turn++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(layerCancelled).toBe('stop');
  });

  it('cancelling while the layer stalls cancels the layer', async () => {
    const { sender, base } = await setup();
    let layerCancelled: unknown;
    let sent = false;
    const layer = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          // One piece, then a read that never completes (a stalled upload, say).
          if (!sent) {
            sent = true;
            c.enqueue(v2.slice(0, 16_384));
            return;
          }
          return new Promise<void>(() => {});
        },
        cancel(reason) {
          layerCancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const { stream, done } = createDiff(layer, { bases: [base], store: sender, hash });
    const reader = stream.getReader();
    expect((await reader.read()).done).toBe(false); // the header
    const next = reader.read();
    await new Promise((r) => setTimeout(r, 20));
    await within(reader.cancel('stop'));
    await next.catch(() => {});
    await expect(within(done)).rejects.toBe('stop');
    for (let turn = 0; turn < 100 && layerCancelled === undefined; turn++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(layerCancelled).toBe('stop');
  });

  it('a chunk sent twice is ERR_DIFF_FORMAT', async () => {
    const { bytes } = await diffOf(v1, [], new MemoryStore());
    // Repeat the first chunk frame (it starts right after the 9-byte header).
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(bytes[9]).toBe(0x43);
    const stored = view.getUint32(9 + 38);
    const frame = bytes.subarray(9, 9 + 42 + stored);
    const twice = concat([bytes.subarray(0, 9), frame, bytes.subarray(9)]);
    const err = await applyDiff(streamOf(twice), new MemoryStore(), { hash }).catch((e) => e);
    expect(err).toBeInstanceOf(DiffFormatError);
  });

  it('an index giving a chunk a length it does not have, or two lengths, is ERR_DIFF_FORMAT', async () => {
    const HELLO = enc('hello');
    const TAIL = new Uint8Array(1024);
    const diff = (lengths: [number, number]) => {
      // The flat index as one index chunk, under a root (its end record is its last frame).
      const flat = oneChunkTwiceIndex(HELLO, TAIL, lengths);
      const view = new DataView(flat.buffer, flat.byteOffset);
      let last = INDEX_MAGIC.length;
      for (let at = last; at < flat.length; at += 4 + view.getUint32(at)) last = at;
      const root = encodeRoot({
        version: 1,
        digest: 'sha256',
        chunker: { algorithm: 'fastcdc-gear32-v1', min: 16384, avg: 65536, max: 262144 },
        size: flat.length,
        levels: 0,
        refs: [{ digest: rawSha256(flat), length: flat.length }],
        endBytes: flat.subarray(last + 4),
      });
      return concat([
        diffHeader(),
        encodeChunkFrame(rawSha256(HELLO), 5, 'identity', HELLO),
        encodeChunkFrame(rawSha256(TAIL), 1024, 'identity', TAIL),
        encodeChunkFrame(rawSha256(flat), flat.length, 'identity', flat),
        encodeRootFrame(root),
      ]);
    };
    const r = await applyDiff(streamOf(diff([5, 5])), new MemoryStore(), { hash });
    expect(r.referenced).toBe(4);
    for (const lengths of [
      [5, 6],
      [6, 5],
      [6, 6],
    ] as Array<[number, number]>) {
      const err = await applyDiff(streamOf(diff(lengths)), new MemoryStore(), { hash }).catch(
        (e) => e,
      );
      expect(err, lengths.join()).toBeInstanceOf(DiffFormatError);
      expect((err as Error).message).toMatch(/6 bytes, where it has 5/);
    }
  });

  it('a receiver holding a corrupt copy of a sent chunk gets it repaired', async () => {
    const { bytes } = await diffOf(v1, [], new MemoryStore());
    const dir = mkdtempSync(join(tmpdir(), 'layerdiff-apply-'));
    try {
      const store = await FsStore.open(dir, { codec: false });
      const first = await applyDiff(streamOf(bytes), store, { hash });
      // Corrupt one stored chunk file, then apply the same diff again.
      const victim = [...listFiles(join(dir, 'sha256'))][0]!;
      writeFileSync(join(dir, 'sha256', victim), 'garbage');
      const again = await applyDiff(streamOf(bytes), store, { hash });
      expect(again.newChunks).toBe(1);
      expect(sha256(await reassembleBytes(first.root, store))).toBe(sha256(v1));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a base that is not an index fails the diff and cancels the layer', async () => {
    let layerCancelled = false;
    const layer = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(v1.subarray(0, 512));
      },
      cancel() {
        layerCancelled = true;
      },
    });
    const { stream, done } = createDiff(layer, {
      bases: [streamOf(new TextEncoder().encode('not an index at all'))],
      store: new MemoryStore(),
      hash,
    });
    await expect(within(collect(stream))).rejects.toBeInstanceOf(LayerdiffError);
    await expect(done).rejects.toBeInstanceOf(LayerdiffError);
    expect(layerCancelled).toBe(true);
  });
});
