/**
 * A writer never writes an index its own readers refuse: a chunked index whose entries repeat
 * the same large metadata (so that it names the same index chunks again and again) is refused
 * by convert with the advice to write a flat one, which rebuilds; and no index grows past the
 * size its readers take.
 */
import { describe, expect, it } from 'vitest';
import { IndexLimitError } from '../../src/errors.js';
import { IndexFrames } from '../../src/format/encoder.js';
import type { LayerRecord } from '../../src/format/records.js';
import { MAX_REPEAT_BYTES, MAX_REPEATS, repeatCheck } from '../../src/pipeline/index-repeats.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, reassembleBytes } from '../helpers/layers.js';
import { sha256 } from '../helpers/streams.js';

/** `n` files, each carrying the same `xattrBytes`-byte xattr, as one tar. */
function sameXattrLayer(n: number, xattrBytes: number): Uint8Array {
  const blob = pseudoRandom(xattrBytes, 9).map((b) => 0x61 + (b % 26));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const body = new TextEncoder().encode(`${i}\n`);
    parts.push(
      encodeHeader({
        path: `dir/file${String(i).padStart(5, '0')}`,
        size: body.length,
        mode: 0o644,
        mtime: 1_700_000_000,
        xattrs: { 'user.blob': blob },
      }),
      body,
      new Uint8Array(paddingSize(body.length)),
    );
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

describe('index limits', () => {
  it('repeatCheck flags a repeat past the limits, and only repeats', () => {
    const digest = (i: number) => {
      const d = new Uint8Array(32);
      new DataView(d.buffer).setUint32(0, i * 2654435761);
      new DataView(d.buffer).setUint32(4, i * 40503);
      new DataView(d.buffer).setUint32(8, i ^ 0x5bd1e995);
      return d;
    };
    const distinct = repeatCheck(10_000 * 2048, 2048);
    for (let i = 0; i < 10_000; i++) {
      expect(distinct({ digest: digest(i), length: 2048 })).toBeUndefined();
    }
    const check = repeatCheck(1 << 20, 2048);
    const same = { digest: digest(1), length: 2048 };
    expect(check(same)).toBeUndefined();
    for (let i = 0; i < MAX_REPEATS; i++) expect(check(same)).toBeUndefined();
    expect(check(same)).toMatch(/repeats its chunks: 4097 references/);
    const big = repeatCheck(1 << 20, 2048);
    const long = { digest: digest(2), length: MAX_REPEAT_BYTES / 2 };
    expect(big(long)).toBeUndefined();
    expect(big(long)).toBeUndefined();
    expect(big(long)).toBeUndefined();
    // The first is no repeat; the next two make 16 MiB, within the bound; the third passes it.
    expect(big(long)).toMatch(/3 references \(25165824 bytes\)/);
  });

  it('convert refuses a chunked index its readers would refuse, and a flat one rebuilds', async () => {
    // 500 entries of the same 64,000-byte xattr: over 16 MiB of index chunks named again.
    const tar = sameXattrLayer(500, 64_000);
    const chunked = convertBytes(tar, new MemoryStore());
    await expect(chunked).rejects.toBeInstanceOf(IndexLimitError);
    await expect(chunked).rejects.toThrow(/repeats its chunks.*write a flat index/);
    const store = new MemoryStore();
    const { index } = await convertBytes(tar, store, { index: 'flat' });
    expect(sha256(await reassembleBytes(index, store))).toBe(sha256(tar));
  }, 60_000);

  it('a layer with fewer such entries still converts into a chunked index that rebuilds', async () => {
    const tar = sameXattrLayer(100, 64_000);
    const store = new MemoryStore();
    const { index } = await convertBytes(tar, store);
    expect(sha256(await reassembleBytes(index, store))).toBe(sha256(tar));
  }, 60_000);

  it('IndexFrames refuses a record that would take the index past its limit', () => {
    const frames = new IndexFrames(4096);
    const record: LayerRecord = {
      type: 'layer',
      version: 2,
      digest: 'sha256',
      chunker: { algorithm: 'fastcdc-gear32-v1', min: 16384, avg: 65536, max: 262144 },
      compression: 'none',
    };
    let thrown: unknown;
    try {
      for (let i = 0; i < 1000; i++) frames.add(record);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(IndexLimitError);
    expect(String(thrown)).toMatch(/over 4096 bytes/);
  });
});
