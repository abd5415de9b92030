/** DigestMap: digests to u32 values in typed arrays, behind keyed open addressing. */
import { describe, expect, it } from 'vitest';
import { DigestMap } from '../../src/hash/digest-map.js';
import type { KeyHash } from '../../src/hash/keyed-hash.js';

/** A digest whose words are `i` and `salt`, in the first and last places. */
function digest(i: number, salt = 0): Uint8Array {
  const d = new Uint8Array(32);
  new DataView(d.buffer).setUint32(0, i);
  new DataView(d.buffer).setUint32(28, salt);
  return d;
}

describe('DigestMap', () => {
  it('adds each digest once, keeps its first value, and finds it again after growing', () => {
    const m = new DigestMap();
    const n = 10_000; // three pages of entries; slots grow ten times
    for (let i = 0; i < n; i++) expect(m.add(digest(i), i * 7)).toBe(true);
    for (let i = 0; i < n; i += 3) expect(m.add(digest(i), 1)).toBe(false);
    expect(m.size).toBe(n);
    for (let i = 0; i < n; i++) expect(m.get(digest(i))).toBe(i * 7);
    expect(m.has(digest(n))).toBe(false);
    expect(m.get(digest(0, 1))).toBeUndefined();
  });

  it('tells apart digests that share every home slot and all but their last word', () => {
    const weak: KeyHash = () => 0;
    const m = new DigestMap(weak);
    for (let salt = 0; salt < 300; salt++) m.add(digest(1, salt), salt);
    expect(m.size).toBe(300);
    for (let salt = 0; salt < 300; salt++) expect(m.get(digest(1, salt))).toBe(salt);
    expect(m.has(digest(1, 300))).toBe(false);
  });

  it('refuses keys that are not 32 bytes, and holds any number as a value', () => {
    const m = new DigestMap();
    expect(() => m.has(new Uint8Array(31))).toThrow(RangeError);
    expect(() => m.add(new Uint8Array(33), 1)).toThrow(RangeError);
    expect(m.add(digest(1), 2 ** 53 - 1)).toBe(true);
    expect(m.get(digest(1))).toBe(2 ** 53 - 1);
  });
});
