/**
 * Hostile input on both sides of the pipeline. Reassembly: a store that lacks, corrupts or
 * mis-sizes chunks, an index that lies about the diff_id or ends early; every failure errors the
 * stream with its typed error (never a hang), cancelling stops cleanly, and chunks are fetched
 * only as the consumer reads. Conversion: a bad tar checksum mid-archive, truncated layers and
 * random garbage reject both the index stream and `done` with a typed error.
 */
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  CompressionError,
  LayerDigestError,
  LayerdiffError,
  RecordFormatError,
  TarFormatError,
  TarTruncatedError,
} from '../../src/errors.js';
import { encodeFrame, INDEX_MAGIC } from '../../src/format/encoder.js';
import type { IndexRecord } from '../../src/format/records.js';
import { formatDigest } from '../../src/hash/digest.js';
import { convert } from '../../src/pipeline/convert.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { ChunkReader } from '../../src/store/types.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, indexRecords as decodeIndex, hash } from '../helpers/layers.js';
import { collect, readUntilError, sha256, streamOf, within } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';

const CHUNKER = { min: 256, avg: 1024, max: 4096 };

/** A plain tar of a few files, with bodies big enough for many small chunks. */
function sampleTar(): Uint8Array {
  const parts: Uint8Array[] = [];
  const files: Array<[string, Uint8Array]> = [
    ['etc/', new Uint8Array(0)],
    ['etc/a.bin', pseudoRandom(20_000, 1)],
    ['etc/b.txt', new TextEncoder().encode('hello\n'.repeat(3000))],
    ['etc/c.bin', pseudoRandom(9_000, 2)],
  ];
  for (const [path, body] of files) {
    const dir = path.endsWith('/');
    parts.push(
      encodeHeader({
        path,
        kind: dir ? 'directory' : 'file',
        size: body.length,
        mtime: 1700000000,
      }),
      body,
      new Uint8Array(paddingSize(body.length)),
    );
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

const encodeIndex = (records: IndexRecord[]) =>
  concat([INDEX_MAGIC, ...records.map((r) => encodeFrame(r))]);

async function setup() {
  const tar = sampleTar();
  const store = new MemoryStore();
  // The flat form: these tests edit and cut index records (test/pipeline/chunked-index.test.ts
  // covers the root and its index chunks).
  const { index } = await convertBytes(tar, store, { chunker: CHUNKER, index: 'flat' });
  const digests = [...store.digests()];
  expect(digests.length).toBeGreaterThan(10);
  return { tar, store, index, digests };
}

/** A read-only view of `store` that changes what `get` returns for some digests. */
function tampered(
  store: MemoryStore,
  change: (digest: string, bytes: Uint8Array) => Uint8Array | undefined,
): ChunkReader {
  return {
    async get(digest) {
      const bytes = change(digest, await store.get(digest));
      if (!bytes) throw new ChunkNotFoundError(digest);
      return bytes;
    },
  };
}

describe('reassemble against a hostile store or index', () => {
  it('sanity: the untouched store rebuilds the tar', async () => {
    const { tar, store, index } = await setup();
    expect(sha256(await collect(reassemble(streamOf(index), store, { hash })))).toBe(sha256(tar));
  });

  it('a missing chunk: ChunkNotFoundError naming it', async () => {
    const { store, index, digests } = await setup();
    for (const victim of [digests[0]!, digests[5]!, digests.at(-1)!]) {
      const partial = new MemoryStore();
      for (const d of digests) if (d !== victim) await partial.put(d, await store.get(d));
      const { error } = await within(readUntilError(reassemble(streamOf(index, 100), partial)));
      expect(error).toBeInstanceOf(ChunkNotFoundError);
      expect((error as ChunkNotFoundError).digest).toBe(victim);
    }
  });

  it('a chunk replaced by other bytes of the same length: ChunkDigestError', async () => {
    const { store, index, digests } = await setup();
    const victim = digests[3]!;
    const bad = tampered(store, (d, b) => {
      if (d !== victim) return b;
      const copy = b.slice();
      copy[copy.length >> 1] = copy[copy.length >> 1]! ^ 1;
      return copy;
    });
    const { error } = await within(readUntilError(reassemble(streamOf(index), bad, { hash })));
    expect(error).toBeInstanceOf(ChunkDigestError);
    expect((error as ChunkDigestError).digest).toBe(victim);
    expect((error as Error).message).toMatch(/bytes do not match the digest/);
  });

  it('a store that returns bytes of another length: ChunkDigestError', async () => {
    const { store, index, digests } = await setup();
    for (const change of [(b: Uint8Array) => b.subarray(1), (b: Uint8Array) => concat([b, b])]) {
      const victim = digests[2]!;
      const bad = tampered(store, (d, b) => (d === victim ? change(b) : b));
      const { error } = await within(readUntilError(reassemble(streamOf(index), bad)));
      expect(error).toBeInstanceOf(ChunkDigestError);
      expect((error as Error).message).toMatch(/expected \d+ bytes, store returned \d+/);
    }
  });

  it('an end record with a wrong diff_id: LayerDigestError after all the data', async () => {
    const { tar, store, index } = await setup();
    const records = await decodeIndex(index);
    const end = records.at(-1)!;
    if (end.type !== 'end') throw new Error('last record is not the end record');
    const diffId = end.diffId.slice();
    diffId[0] = diffId[0]! ^ 0xff;
    const lying = encodeIndex([...records.slice(0, -1), { ...end, diffId }]);
    expect(lying.length).toBe(index.length);
    const { bytes, error } = await within(readUntilError(reassemble(streamOf(lying), store)));
    expect(error).toBeInstanceOf(LayerDigestError);
    expect((error as Error).message).toContain(formatDigest(diffId));
    // Every byte came out first: the check can only run at the end.
    expect(sha256(bytes)).toBe(sha256(tar));
  });

  it('bytes after the end record: RecordFormatError, also when they arrive in a later piece', async () => {
    const { store, index } = await setup();
    const junk = concat([index, new TextEncoder().encode('JUNK AFTER THE END RECORD')]);
    for (const sizes of [[index.length, 100], 65536, 7]) {
      const { error } = await within(readUntilError(reassemble(streamOf(junk, sizes), store)));
      expect(error).toBeInstanceOf(RecordFormatError);
    }
  });

  it('re-encoding the records unchanged gives the same index', async () => {
    const { index } = await setup();
    expect(encodeIndex(await decodeIndex(index))).toEqual(index);
  });

  it('a truncated index: RecordFormatError at every cut', async () => {
    const { store, index } = await setup();
    for (let end = 0; end < index.length; end += end < 64 ? 1 : 53) {
      const cut = index.subarray(0, end);
      const { error } = await within(readUntilError(reassemble(streamOf(cut, 17), store)));
      expect(error).toBeInstanceOf(RecordFormatError);
    }
  });

  it('cancelling mid-way cancels the index source and fetches no more', async () => {
    const { store, index } = await setup();
    let served = 0;
    let cancelled: unknown;
    const counting: ChunkReader = {
      get(d) {
        served++;
        return store.get(d);
      },
    };
    let at = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= index.length) return c.close();
        c.enqueue(index.slice(at, at + 200));
        at += 200;
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const reader = reassemble(source, counting).getReader();
    for (let i = 0; i < 5; i++) expect((await reader.read()).done).toBe(false);
    await within(reader.cancel('enough'));
    expect(cancelled).toBe('enough');
    const after = served;
    await new Promise((r) => setTimeout(r, 20));
    expect(served).toBe(after);
    expect(await reader.closed).toBeUndefined();
  });

  it('cancelling while a chunk fetch hangs still settles', async () => {
    const { index } = await setup();
    const never: ChunkReader = { get: () => new Promise<Uint8Array>(() => {}) };
    const reader = reassemble(streamOf(index), never).getReader();
    expect((await reader.read()).done).toBe(false); // the first header
    const pending = reader.read(); // waits on a chunk that never comes
    await within(reader.cancel('give up'));
    expect((await within(pending)).done).toBe(true);
  });

  it('pulls lazily: after N pieces at most N + readAhead chunks were fetched', async () => {
    const { tar, store, index } = await setup();
    for (const readAhead of [1, 2, 4, 8]) {
      let served = 0;
      const servedBytes = new Set<Uint8Array>();
      const counting: ChunkReader = {
        async get(d) {
          served++;
          const bytes = await store.get(d);
          servedBytes.add(bytes);
          return bytes;
        },
      };
      const reader = reassemble(streamOf(index), counting, { readAhead }).getReader();
      await new Promise((r) => setTimeout(r, 5));
      expect(served).toBe(0); // nothing before the first read
      let pieces = 0;
      let chunkPieces = 0;
      let ahead = 0;
      const parts: Uint8Array[] = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        pieces++;
        if (servedBytes.has(value)) chunkPieces++;
        parts.push(value);
        expect(served).toBeLessThanOrEqual(pieces + readAhead);
        // Tighter: fetched chunks run at most readAhead ahead of the chunks handed out.
        expect(served).toBeLessThanOrEqual(chunkPieces + readAhead);
        ahead = Math.max(ahead, served - chunkPieces);
      }
      expect(sha256(concat(parts))).toBe(sha256(tar));
      // It does read ahead, up to the limit.
      expect(ahead).toBe(readAhead);
    }
  });
});

/** Converts `blob` and returns how the index stream and `done` ended. */
async function convertOutcome(blob: Uint8Array, sizes: number | number[] = 4096) {
  const store = new MemoryStore();
  const { index, done } = convert(streamOf(blob, sizes), { store, hash, chunker: CHUNKER });
  const read = await within(readUntilError(index));
  const result = await within(
    done.then(
      (r) => ({ ok: r }),
      (e: unknown) => ({ err: e }),
    ),
  );
  return { indexError: read.error, done: result };
}

describe('convert against a hostile layer', () => {
  it('a bad header checksum mid-archive: TarFormatError from the index and from done', async () => {
    const tar = sampleTar();
    // The third entry's header: after dir (512), a.bin (512 + 20480).
    const at = 512 + 512 + 20_480;
    expect(String.fromCharCode(...tar.subarray(at, at + 9))).toBe('etc/b.txt');
    const bad = tar.slice();
    bad[at + 100] = bad[at + 100]! ^ 0x01; // a mode digit
    for (const sizes of [bad.length, 1000, 7]) {
      const { indexError, done } = await convertOutcome(bad, sizes);
      expect(indexError).toBeInstanceOf(TarFormatError);
      expect((indexError as TarFormatError).location.offset).toBe(at);
      expect((done as { err?: unknown }).err).toBe(indexError);
    }
  });

  it('the same inside gzip and zstd wrappers', async () => {
    const tar = sampleTar();
    const bad = tar.slice();
    bad[1024 + 20_480 + 101] = 0x39; // '9' is not octal
    const wrapped = [new Uint8Array(gzipSync(bad))];
    if (toolsAvailable('zstd')) {
      wrapped.push(new Uint8Array(execFileSync('zstd', ['-q', '-c'], { input: bad })));
    }
    for (const blob of wrapped) {
      const { indexError, done } = await convertOutcome(blob);
      expect(indexError).toBeInstanceOf(TarFormatError);
      expect((done as { err?: unknown }).err).toBe(indexError);
    }
  });

  it('a truncated layer: typed errors, never a short but "complete" layer', async () => {
    const tar = sampleTar();
    const gz = new Uint8Array(gzipSync(tar));
    // (Cutting exactly the two end blocks leaves a tar without its end marker, which tar
    // readers accept; every cut inside a header, body or padding is a truncation.)
    for (const end of [tar.length - 1025, tar.length - 1100, 700, 512 + 30]) {
      const { indexError, done } = await convertOutcome(tar.subarray(0, end));
      expect(indexError).toBeInstanceOf(TarTruncatedError);
      expect((done as { err?: unknown }).err).toBe(indexError);
    }
    for (const end of [gz.length - 1, gz.length - 8, gz.length >> 1, 12]) {
      const { indexError, done } = await convertOutcome(gz.subarray(0, end));
      expect(indexError).toBeInstanceOf(CompressionError);
      expect((done as { err?: unknown }).err).toBe(indexError);
    }
  });

  it('random garbage: a typed LayerdiffError, never a hang', async () => {
    const prefixes = [
      new Uint8Array(0),
      Uint8Array.of(0x1f, 0x8b),
      Uint8Array.of(0x1f, 0x8b, 0x08, 0x00),
      Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd),
      Uint8Array.of(0x50, 0x2a, 0x4d, 0x18, 0x10, 0, 0, 0),
    ];
    let seed = 1;
    for (const prefix of prefixes) {
      for (const size of [1, 100, 511, 512, 1024, 5000, 70_000]) {
        const blob = concat([prefix, pseudoRandom(size, seed++)]);
        const { indexError, done } = await convertOutcome(blob, [1, 300, 4096]);
        expect(indexError).toBeInstanceOf(LayerdiffError);
        expect((done as { err?: unknown }).err).toBe(indexError);
      }
    }
    // Garbage that decompresses fine is a tar error.
    const { indexError } = await convertOutcome(new Uint8Array(gzipSync(pseudoRandom(9000, 3))));
    expect(indexError).toBeInstanceOf(TarFormatError);
  });
});
