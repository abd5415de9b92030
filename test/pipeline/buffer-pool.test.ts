import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/pipeline/buffer-pool.js';

describe('BufferPool', () => {
  it('hands out power-of-two classes from 4 KiB up to max', () => {
    const pool = new BufferPool(256 * 1024);
    expect(pool.take(1).byteLength).toBe(4096);
    expect(pool.take(4097).byteLength).toBe(8192);
    expect(pool.take(70_000).byteLength).toBe(131072);
    expect(pool.take(10_000_000).byteLength).toBe(256 * 1024);
    expect(pool.take().byteLength).toBe(256 * 1024);
    expect(new BufferPool(100_000).take(99_000).byteLength).toBe(100_000);
  });

  it('reuses given-back buffers of the same class, whatever view is given back', () => {
    const pool = new BufferPool(65536);
    const a = pool.take(20_000);
    pool.give(a.subarray(0, 123));
    const b = pool.take(30_000);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.take(30_000).buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not hand out, and double gives', () => {
    const pool = new BufferPool(65536);
    const foreign = new Uint8Array(32768);
    pool.give(foreign);
    expect(pool.take(32768).buffer).not.toBe(foreign.buffer);
    const a = pool.take(4096);
    pool.give(a);
    pool.give(a);
    expect(pool.take(4096).buffer).toBe(a.buffer);
    expect(pool.take(4096).buffer).not.toBe(a.buffer);
  });

  it('keeps at most keepBytes of spare buffers', () => {
    const pool = new BufferPool(65536, 65536);
    const a = pool.take();
    const b = pool.take();
    pool.give(a);
    pool.give(b);
    expect(pool.take().buffer).toBe(a.buffer);
    expect(pool.take().buffer).not.toBe(b.buffer);
  });
});
