/**
 * The mark set of a garbage collection: never forgets a digest; exact up to its limit, and
 * beyond it a filter that lets few others through.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MarkSet } from '../../src/store/mark-set.js';

const digest = (i: number) => new Uint8Array(createHash('sha256').update(`d${i}`).digest());

/** Marks digests 0 to n - 1; how many `add` took for marked before. */
function markFirst(set: MarkSet, n: number): number {
  let before = 0;
  for (let i = 0; i < n; i++) if (set.add(digest(i))) before++;
  return before;
}

/** How many of digests `from` to `to - 1` the set answers yes for. */
function held(set: MarkSet, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (set.has(digest(i))) n++;
  return n;
}

describe('MarkSet', () => {
  it('exact: holds every digest marked and no other, growing past what was expected', () => {
    const n = 50_000;
    const set = new MarkSet(1_000);
    expect(markFirst(set, n)).toBe(0);
    expect(held(set, 0, n)).toBe(n);
    expect(markFirst(set, 1_000)).toBe(1_000);
    expect(held(set, n, n + 100_000)).toBe(0);
    // Kept at most half full: 131,072 slots of 8 bytes for 50,000.
    expect(set.byteLength).toBe(131_072 * 8);
  });

  it('past its exact limit: a filter that still holds every digest marked', () => {
    const n = 50_000;
    const set = new MarkSet(1_000, 10_000);
    const before = markFirst(set, n);
    expect(held(set, 0, n)).toBe(n);
    expect(markFirst(set, 1_000)).toBe(1_000);
    // Sized for four times the limit, 2 bytes each: more than that let more through.
    expect(set.byteLength).toBe(40_000 * 2);
    expect(held(set, n, n + 100_000)).toBeLessThan(1_000);
    expect(before).toBeLessThan(2_500);
  });

  it('expecting more than its limit: a filter from the start', () => {
    const n = 50_000;
    const set = new MarkSet(n, 1_000);
    const before = markFirst(set, n);
    expect(held(set, 0, n)).toBe(n);
    expect(set.byteLength).toBe(n * 2);
    // About 1 in 2,200 by arithmetic (45 of 100,000); a broken filter lets far more through.
    expect(held(set, n, n + 100_000)).toBeLessThan(200);
    expect(before).toBeLessThan(100);
  });

  it('a digest whose first 64 bits are zero (an empty slot) is marked like any other', () => {
    const zero = new Uint8Array(32);
    zero[31] = 1;
    const other = new Uint8Array(32);
    other[30] = 1;
    for (const limit of [10, 0]) {
      const set = new MarkSet(0, limit);
      expect(set.has(zero)).toBe(false);
      expect(set.add(zero)).toBe(false);
      expect(set.has(zero)).toBe(true);
      // Sharing the first 64 bits: taken for marked (the set holds no more of a digest).
      expect(set.has(other)).toBe(true);
      expect(set.has(digest(1))).toBe(false);
      expect(set.add(digest(1))).toBe(false);
      expect(set.has(digest(1))).toBe(true);
    }
  });
});
