/** Small arrays packed into shared slabs: each its own bytes, zeroed, aligned. */
import { describe, expect, it } from 'vitest';
import { Slabs } from '../src/slabs.js';
import { concatBytes } from '../src/tar/header.js';

describe('Slabs', () => {
  it('hands out zeroed views that never overlap, small ones sharing a buffer', () => {
    const slabs = new Slabs();
    const views = Array.from({ length: 2000 }, (_, i) => slabs.alloc((i * 37) % 700));
    for (const v of views) expect(v.every((b) => b === 0)).toBe(true);
    for (const [i, v] of views.entries()) v.fill(i & 0xff);
    for (const [i, v] of views.entries()) expect(v.every((b) => b === (i & 0xff))).toBe(true);
    expect(new Set(views.map((v) => v.buffer)).size).toBeLessThan(30);
    for (const v of views) expect(v.byteOffset % 8).toBe(0);
  });

  it('gives arrays over 8 KiB a buffer of their own', () => {
    const slabs = new Slabs();
    const big = slabs.alloc(8193);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(8193);
  });

  it('starts with a small slab and doubles up to 64 KiB', () => {
    const slabs = new Slabs();
    const sizes: number[] = [];
    for (let i = 0; i < 400; i++) {
      const b = slabs.alloc(900).buffer.byteLength;
      if (sizes.at(-1) !== b) sizes.push(b);
    }
    expect(sizes).toEqual([1024, 2048, 4096, 8192, 16384, 32768, 65536]);
    // An owner of one header block allocates 1 KiB, not 64; a first array larger than the
    // first slab gets a slab of its size.
    expect(new Slabs().alloc(512).buffer.byteLength).toBe(1024);
    expect(new Slabs().alloc(5000).buffer.byteLength).toBe(5000);
  });

  it('copies, and joins arrays into a slab through concatBytes', () => {
    const slabs = new Slabs();
    const a = Uint8Array.of(1, 2, 3);
    const copy = slabs.copy(a);
    a[0] = 9;
    expect(copy).toEqual(Uint8Array.of(1, 2, 3));
    expect(concatBytes([a], 3, slabs.alloc)).toBe(a);
    const joined = concatBytes([a, Uint8Array.of(4), new Uint8Array(0)], 4, slabs.alloc);
    expect(joined).toEqual(Uint8Array.of(9, 2, 3, 4));
    expect(joined.buffer).toBe(copy.buffer);
  });
});
