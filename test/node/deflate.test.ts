/**
 * Node's zlib as a deflate engine for gzip reproduction: the same bytes as zlib's own raw
 * deflate, and a consumer that cancels midway (as the search for gzip parameters cancels a
 * candidate at its first differing byte) ends it quietly, without an error thrown from an
 * event handler after the cancel (which ended `oci convert` 1 time in 40 with Node 20's
 * `Duplex.toWeb`).
 */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { nodeDeflateEngine } from '../../src/node/deflate.js';
import { pseudoRandom, text } from '../helpers/bytes.js';
import { collect, readAll, within } from '../helpers/streams.js';

const input = () => {
  // Half compressible, half not: output in many pieces.
  const bytes = pseudoRandom(4 << 20, 5);
  bytes.fill(7, 0, 2 << 20);
  return bytes;
};
const pieces = (bytes: Uint8Array, size = 65536) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < bytes.length; at += size)
        controller.enqueue(bytes.slice(at, at + size));
      controller.close();
    },
  });

describe('nodeDeflateEngine', () => {
  it('gives the bytes of zlib raw deflate at each level and strategy', async () => {
    const bytes = input().subarray(0, 600_000);
    for (const [level, memLevel, strategy] of [
      [1, 8, 0],
      [6, 8, 0],
      [9, 9, 0],
      [6, 8, 1],
    ] as const) {
      const engine = nodeDeflateEngine();
      const out = await collect(
        pieces(bytes).pipeThrough(engine.createDeflateRaw({ level, memLevel, strategy })),
      );
      const want = deflateRawSync(bytes, { level, memLevel, strategy, windowBits: 15 });
      expect(Buffer.from(out).equals(want), `level ${level} strategy ${strategy}`).toBe(true);
    }
  });

  it('ends quietly when its consumer cancels midway, whatever zlib still has', async () => {
    for (let i = 0; i < 20; i++) {
      const engine = nodeDeflateEngine();
      const out = pieces(input()).pipeThrough(
        engine.createDeflateRaw({ level: 1, memLevel: 8, strategy: 0 }),
      );
      const reader = out.getReader();
      for (let n = 0; n <= i % 3; n++) expect((await reader.read()).done).toBe(false);
      await reader.cancel(new Error('differs'));
    }
    // Anything zlib emits after a cancel would be thrown now, as an unhandled error.
    await new Promise((r) => setTimeout(r, 200));
  });

  it('ends quietly, not waits forever, when its consumer cancels during the last output', async () => {
    // The gzip search cancels a candidate whose last bytes differ while zlib is still
    // finishing: zlib, destroyed at its next output, never ends. Before the fix, `oci
    // convert` of a small GNU gzip layer stopped there with nothing left to run.
    const bytes = text(300_000, 3);
    const params = { level: 6, memLevel: 9, strategy: 0 };
    // zlib's output comes in pieces of 16 KiB, the same ones every run; the end's are the last.
    const all = await readAll(
      pieces(bytes).pipeThrough(nodeDeflateEngine().createDeflateRaw(params)),
    );
    expect(all.length).toBeGreaterThan(2);
    const reader = pieces(bytes)
      .pipeThrough(nodeDeflateEngine().createDeflateRaw(params))
      .getReader();
    for (let n = 0; n < all.length - 1; n++) expect((await reader.read()).done).toBe(false);
    await within(reader.cancel(new Error('differs')));
  });
});
