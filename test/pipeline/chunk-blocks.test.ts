import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkBlocks } from '../../src/pipeline/chunk-blocks.js';

const KiB = 1024;

describe('ChunkBlocks', () => {
  it('reserves room of min(atLeast, max) bytes, carving one block in order', () => {
    const blocks = new ChunkBlocks(256 * KiB);
    expect(blocks.blockSize).toBe(1024 * KiB);
    const a = blocks.take(100);
    expect(a.length).toBe(100);
    expect(blocks.take(10_000_000).length).toBe(256 * KiB);
    expect(blocks.take().length).toBe(256 * KiB);
    const b = new ChunkBlocks(100_000).take(200_000);
    expect(b.length).toBe(100_000);
    expect(new ChunkBlocks(1024 * KiB).blockSize).toBe(2048 * KiB);
    expect(() => new ChunkBlocks(0)).toThrow(RangeError);
    // Idle blocks kept: 4 MiB of them, at least one.
    expect(new ChunkBlocks(256 * KiB).keepBlocks).toBe(4);
    expect(new ChunkBlocks(16 * 1024 * KiB).keepBlocks).toBe(1);
  });

  it('refuses sizes that are not sizes', () => {
    const blocks = new ChunkBlocks(64 * KiB);
    expect(() => blocks.take(Number.NaN)).toThrow(RangeError);
    expect(() => blocks.take(-1)).toThrow(RangeError);
    expect(blocks.take(Number.POSITIVE_INFINITY).length).toBe(64 * KiB);
    const room = blocks.take(100);
    for (const bad of [Number.NaN, -1, 1.5, 101]) {
      expect(() => blocks.trim(room, bad)).toThrow(RangeError);
    }
  });

  it('gives the untouched end of the room back when the chunk is cut', () => {
    const blocks = new ChunkBlocks(64 * KiB);
    const room = blocks.take();
    const chunk = blocks.trim(room, 1000);
    expect(chunk.byteOffset).toBe(room.byteOffset);
    expect(chunk.length).toBe(1000);
    const next = blocks.take(10);
    expect(next.buffer).toBe(room.buffer);
    expect(next.byteOffset).toBe(room.byteOffset + 1024);
  });

  it('keeps room taken after another piece of room: sharing blocks is safe', () => {
    const blocks = new ChunkBlocks(64 * KiB);
    const a = blocks.take();
    const b = blocks.take();
    blocks.trim(a, 10);
    const c = blocks.take(100);
    expect(c.byteOffset).toBeGreaterThanOrEqual(b.byteOffset + b.length);
  });

  it('reuses a block only once every chunk carved from it is back', () => {
    const blocks = new ChunkBlocks(256 * KiB, 1);
    const first = [blocks.take(), blocks.take(), blocks.take(), blocks.take()];
    const second = blocks.take();
    expect(second.buffer).not.toBe(first[0]!.buffer);
    for (const c of first.slice(0, 3)) blocks.give(c);
    // The next block must be fresh: the first still has a chunk out.
    blocks.take();
    blocks.take();
    blocks.take();
    const third = blocks.take();
    expect(third.buffer).not.toBe(first[0]!.buffer);
    blocks.give(first[3]!);
    blocks.give(second);
    // Now idle; the third block, once full, hands over to it.
    blocks.take();
    blocks.take();
    blocks.take();
    expect(blocks.take().buffer).toBe(first[0]!.buffer);
  });

  it('ignores a chunk given back twice, even once its place was carved again', () => {
    const blocks = new ChunkBlocks(256 * KiB, 1);
    const a = blocks.trim(blocks.take(), 1000);
    blocks.give(a);
    // Fill the block with chunks given back at once; the next take starts it again.
    for (let i = 0; i < 3; i++) blocks.give(blocks.take());
    const b = blocks.trim(blocks.take(), 1000);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset);
    b.fill(7);
    blocks.give(a);
    // b is still out: its block must not be carved again while it is.
    for (let i = 0; i < 30; i++) {
      const c = blocks.trim(blocks.take(), 100_000);
      c.fill(9);
      blocks.give(c);
    }
    expect(b.every((x) => x === 7)).toBe(true);
  });

  it('ignores views of other memory and chunks already given back', () => {
    const blocks = new ChunkBlocks(64 * KiB, 1);
    blocks.give(new Uint8Array(100));
    const a = blocks.trim(blocks.take(), 100);
    const b = blocks.trim(blocks.take(), 100);
    blocks.give(a);
    blocks.give(a);
    blocks.give(a.subarray(1));
    // b is still out: a second give of a must not have freed the block.
    const rooms = Array.from({ length: 40 }, () => blocks.take());
    for (const r of rooms) {
      if (r.buffer === b.buffer) {
        const lo = r.byteOffset;
        expect(lo + r.length <= b.byteOffset || lo >= b.byteOffset + b.length).toBe(true);
      }
    }
  });

  it('gives every piece of room, empty ones too, a place of its own', () => {
    const blocks = new ChunkBlocks(4 * KiB);
    const a = blocks.take(0);
    const b = blocks.take(0);
    expect(a.byteOffset).not.toBe(b.byteOffset);
    const c = blocks.trim(blocks.take(), 0);
    const d = blocks.take(1);
    expect(d.byteOffset).not.toBe(c.byteOffset);
    expect(() => blocks.trim(d, 2)).toThrow(RangeError);
  });

  it('never hands out memory that overlaps a chunk not given back (random use)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('take' as const), n: fc.integer({ min: 0, max: 70_000 }) }),
      fc.record({
        kind: fc.constant('trim' as const),
        keep: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      fc.record({ kind: fc.constant('give' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65536 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(op, { maxLength: 300 }),
        (max, keep, ops) => {
          const blocks = new ChunkBlocks(max, keep);
          // Chunks out, each filled with its own mark; rooms not yet trimmed.
          const out: { view: Uint8Array; mark: number }[] = [];
          const rooms: Uint8Array[] = [];
          let marks = 0;
          const check = (v: Uint8Array, mark: number) => {
            for (let i = 0; i < v.length; i++) if (v[i] !== mark) return false;
            return true;
          };
          for (const o of ops) {
            if (o.kind === 'take') {
              const room = blocks.take(o.n);
              expect(room.length).toBe(Math.min(o.n, max));
              const mark = ++marks & 255;
              room.fill(mark);
              rooms.push(room);
              out.push({ view: room, mark });
            } else if (o.kind === 'trim' && rooms.length) {
              const room = rooms.shift()!;
              const e = out.find((x) => x.view === room)!;
              e.view = blocks.trim(room, Math.floor(room.length * o.keep));
            } else if (o.kind === 'give' && out.length) {
              const [e] = out.splice(o.pick % out.length, 1);
              const ri = rooms.indexOf(e!.view);
              if (ri >= 0) rooms.splice(ri, 1);
              expect(check(e!.view, e!.mark)).toBe(true);
              blocks.give(e!.view);
            }
          }
          for (const e of out) expect(check(e.view, e.mark)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  /** Blocks made for 20,000 chunks, 16 out at once, each given back among the `spread` oldest. */
  const blocksMade = (keep: number | undefined, spread: number) => {
    const blocks = new ChunkBlocks(256 * KiB, keep);
    const buffers = new Set<ArrayBufferLike>();
    const inFlight: Uint8Array[] = [];
    let x = 1;
    for (let i = 0; i < 20_000; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const chunk = blocks.trim(blocks.take(), 16 * KiB + (x % (240 * KiB)));
      buffers.add(chunk.buffer);
      inFlight.push(chunk);
      if (inFlight.length > 16) blocks.give(inFlight.splice((x >>> 8) % spread, 1)[0]!);
    }
    return buffers.size;
  };

  it('keeps memory to a few blocks when chunks come back about in order', () => {
    // 16 chunks of up to 256 KiB span up to 5 blocks with the current one.
    expect(blocksMade(undefined, 1)).toBeLessThanOrEqual(6);
    expect(blocksMade(undefined, 3)).toBeLessThanOrEqual(8);
    // What the default is for: keeping fewer makes blocks again and again.
    expect(blocksMade(2, 1)).toBeGreaterThan(20);
  });
});
