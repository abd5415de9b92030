/**
 * The mark set of a garbage collection: never forgets a digest, and lets few others through.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MarkSet } from '../../src/store/mark-set.js';

const digest = (i: number) => new Uint8Array(createHash('sha256').update(`d${i}`).digest());

describe('MarkSet', () => {
  it('holds every digest marked; answers yes for few of the others', () => {
    const n = 50_000;
    const set = new MarkSet(n);
    let before = 0;
    for (let i = 0; i < n; i++) if (set.add(digest(i))) before++;
    let held = 0;
    for (let i = 0; i < n; i++) if (set.has(digest(i))) held++;
    expect(held).toBe(n);
    // Marking again: every one was there.
    let again = 0;
    for (let i = 0; i < 1000; i++) if (set.add(digest(i))) again++;
    expect(again).toBe(1000);
    let through = 0;
    for (let i = n; i < n + 100_000; i++) if (set.has(digest(i))) through++;
    // About 1 in 2,200 by arithmetic (45 of 100,000); a broken filter lets far more through.
    expect(through).toBeLessThan(200);
    expect(before).toBeLessThan(100);
    expect(set.byteLength).toBe(n * 2);
  });

  it('sized for none, still works (for a store with no chunks)', () => {
    const set = new MarkSet(0);
    expect(set.has(digest(1))).toBe(false);
    expect(set.add(digest(1))).toBe(false);
    expect(set.has(digest(1))).toBe(true);
  });
});
