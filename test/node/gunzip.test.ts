/**
 * `nodeGunzip`, the gzip decoder over node:zlib: it decodes no further ahead than it is read
 * (a gzip bomb stays small), passes a failing input's error on, stops on cancel, and gives
 * lent input buffers back only once zlib is done with them (a source that poisons returned
 * buffers still converts exactly).
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createDecompressor } from '../../src/compress/decompress.js';
import { CompressionError } from '../../src/errors.js';
import { nodeGunzip } from '../../src/node/gunzip.js';
import { convert } from '../../src/pipeline/convert.js';
import { MemoryStore } from '../../src/store/memory.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { hash, reassembleBytes } from '../helpers/layers.js';
import { collect, lendingSource, sha256, streamOf, within } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

/** A stream of `bytes` in `size`-byte pieces that counts what has been pulled from it. */
function counted(bytes: Uint8Array, size: number) {
  const seen = { bytes: 0 };
  let at = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (at >= bytes.length) return c.close();
        const piece = bytes.slice(at, at + size);
        at += piece.length;
        seen.bytes += piece.length;
        c.enqueue(piece);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

describe('nodeGunzip', () => {
  it('decodes only as far as it is read: a 64 MiB bomb, read for 1 MiB, then cancelled', async () => {
    const bomb = new Uint8Array(gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 }));
    const { stream, seen } = counted(bomb, 4096);
    const reader = nodeGunzip()(stream).getReader();
    let out = 0;
    while (out < 1024 * 1024) {
      const r = await reader.read();
      expect(r.done).toBe(false);
      out += r.value!.length;
    }
    // 1 MiB of zeros takes about 1 KiB of deflate; zlib's input buffer holds a few pieces more.
    expect(seen.bytes).toBeLessThan(64 * 1024);
    await within(reader.cancel());
  });

  it("a failing input fails the output with the input's own error", async () => {
    const gz = new Uint8Array(gzipSync(pseudoRandom(300_000, 1)));
    const boom = new Error('disk went away');
    let sent = false;
    const failing = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent) return c.error(boom);
        sent = true;
        c.enqueue(gz.subarray(0, 50_000));
      },
    });
    await expect(within(collect(nodeGunzip()(failing)))).rejects.toBe(boom);
  });

  it('corrupt input through the decompressor is a CompressionError', async () => {
    const gz = new Uint8Array(gzipSync(pseudoRandom(100_000, 2)));
    gz[gz.length - 8] = gz[gz.length - 8]! ^ 1;
    const d = createDecompressor({ hash, gunzip: nodeGunzip() });
    const piped = streamOf(gz, 1000).pipeTo(d.writable);
    const err = await collect(d.readable).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompressionError);
    await expect(d.done).rejects.toBe(err);
    await piped.catch(() => {});
  });

  it('stops reading corrupt input and cancels its source', async () => {
    const gz = new Uint8Array(gzipSync(pseudoRandom(400_000, 3)));
    gz[10] = gz[10]! | 0b110; // the first deflate block's type: 3, reserved
    let cancelled: unknown;
    let at = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= gz.length) return c.close();
        c.enqueue(gz.slice(at, at + 4096));
        at += 4096;
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const err = await within(collect(nodeGunzip()(source))).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toMatch(/^Z_/);
    expect(cancelled).toBe(err);
    expect(at).toBeLessThan(gz.length);
  });

  it('refuses a tiny output piece size', () => {
    expect(() => nodeGunzip({ chunkSize: 10 })).toThrow(/chunkSize/);
  });

  it.each([[[65536]], [[4096, 100, 70_000]], [[1, 513, 9000]]])(
    'gives lent buffers back once zlib has them, and they are reused (pieces %j)',
    async (sizes) => {
      const files: Array<[string, Uint8Array]> = [];
      for (let i = 0; i < 40; i++) files.push([`etc/f${i}`, pseudoRandom((i * 4099) % 20_000, i)]);
      files.push(['usr/lib/big.so', pseudoRandom(600_000, 99)]);
      const tar = tarOf(files);
      // Level 0: stored blocks, so the compressed blob is as long as the tar (many pieces).
      const gz = new Uint8Array(gzipSync(tar, { level: 0 }));
      const store = new MemoryStore();
      let given = 0;
      const { index, done } = convert(
        lendingSource(gz, sizes, () => given++),
        { store, hash, gunzip: nodeGunzip() },
      );
      const root = await collect(index);
      const result = await done;
      expect(result.compression).toBe('gzip');
      expect(result.blobDigest).toBe(sha256(gz));
      expect(sha256(await reassembleBytes(root, store))).toBe(sha256(tar));
      expect(given).toBeGreaterThan(0);
    },
  );
});
