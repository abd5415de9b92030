/**
 * `convert` reads its layer itself (no writable side in between): cancelling the index
 * cancels the layer, and a failing layer fails the index and `done` with the layer's own error.
 */
import { describe, expect, it } from 'vitest';
import { convert } from '../../src/pipeline/convert.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader } from '../../src/tar/header.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { collect, readUntilError, sha256, within } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

/**
 * A layer of 4 KiB pieces from `piece(n)` (undefined ends it), at most 10,000 of them; it
 * records a cancel.
 */
function watched(piece: (n: number) => Uint8Array | undefined) {
  const seen = { pulls: 0, cancelled: undefined as unknown };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        if (++seen.pulls > 10_000) throw new Error('read far more than expected');
        const p = piece(seen.pulls - 1);
        if (p) c.enqueue(p);
        else c.close();
      },
      cancel(reason) {
        seen.cancelled = reason;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, seen };
}

/** The pieces of `bytes`, 4 KiB each. */
const piecesOf = (bytes: Uint8Array) => (n: number) =>
  n * 4096 < bytes.length ? bytes.slice(n * 4096, (n + 1) * 4096) : undefined;

describe('convert reads its layer directly', () => {
  const tar = tarOf([
    ['a.bin', pseudoRandom(300_000, 1)],
    ['b.txt', new TextEncoder().encode('hello\n')],
  ]);

  it('reads all of it, once, and takes the diff_id from it', async () => {
    const { stream, seen } = watched(piecesOf(tar));
    const { index, done } = convert(stream, { store: new MemoryStore() });
    await collect(index);
    expect((await done).diffId).toBe(sha256(tar));
    expect(seen.pulls).toBe(Math.ceil(tar.length / 4096) + 1);
    expect(seen.cancelled).toBeUndefined();
  });

  it('cancelling the index cancels the layer and rejects done', async () => {
    // The header of a 1 GiB file, then zeros: far more than is read before the cancel.
    const header = encodeHeader({ path: 'big', size: 2 ** 30, mode: 0o644, mtime: 0 });
    const { stream, seen } = watched((n) => (n === 0 ? header : new Uint8Array(4096)));
    const { index, done } = convert(stream, { store: new MemoryStore() });
    const reader = index.getReader();
    const first = reader.read();
    await new Promise((r) => setTimeout(r, 20));
    const reason = new Error('not wanted');
    await reader.cancel(reason);
    await first.catch(() => {});
    await expect(within(done)).rejects.toBe(reason);
    // The cancel travels back through the pipes between the stages, a few turns later.
    for (let turn = 0; turn < 100 && seen.cancelled === undefined; turn++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(seen.cancelled).toBe(reason);
  });

  it("a failing layer fails the index and done with the layer's error", async () => {
    const { stream } = watched((n) => {
      if (n === 16) throw new Error('disk on fire');
      return piecesOf(tar)(n);
    });
    const { index, done } = convert(stream, { store: new MemoryStore() });
    const { error } = await within(readUntilError(index));
    expect((error as Error).message).toBe('disk on fire');
    await expect(within(done)).rejects.toThrow('disk on fire');
  });
});
