import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DigestTable } from '../../src/store/digest-table.js';

/**
 * A digest whose first word is `home` (so tests can force probe chains) and rest from `n`,
 * or, given `last`, whose second word is `n` and fourth `last` (third zero).
 */
function digest(home: number, n: number, last?: number): Uint8Array {
  const d = new Uint8Array(32);
  const v = new DataView(d.buffer);
  v.setUint32(0, home);
  v.setUint32(4, n);
  v.setUint32(12, last ?? n ^ 0x5a5a5a5a);
  return d;
}

describe('DigestTable', () => {
  it('stores, replaces and deletes values; grows past its first capacity', () => {
    const t = new DigestTable(4);
    for (let i = 0; i < 5000; i++) t.set(digest(i * 2654435761, i), i);
    expect(t.size).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(t.get(digest(i * 2654435761, i))).toBe(i);
    t.set(digest(0, 0), 77);
    expect(t.get(digest(0, 0))).toBe(77);
    expect(t.size).toBe(5000);
    expect(t.delete(digest(0, 0))).toBe(true);
    expect(t.delete(digest(0, 0))).toBe(false);
    expect(t.get(digest(0, 0))).toBe(-1);
    expect(t.size).toBe(4999);
  });

  it('keys on whole digests: one differing only in its last byte is another key', () => {
    // Digests named by an index are outside input: a forged one may share a stored one's
    // first bits, and must not pass for it.
    const t = new DigestTable();
    const a = digest(1, 1);
    const b = a.slice();
    b[31] = 0xff;
    t.set(a, 1);
    expect(t.get(b)).toBe(-1);
    t.set(b, 2);
    expect([t.get(a), t.get(b), t.size]).toEqual([1, 2, 2]);
    expect(t.delete(a)).toBe(true);
    expect([t.get(a), t.get(b)]).toEqual([-1, 2]);
  });

  it('keeps probe chains short for digests chosen to collide (a hostile index)', () => {
    // Equal in their first 96 bits: one home for all of them if only those bits counted.
    const t = new DigestTable();
    const n = 50_000;
    for (let i = 0; i < n; i++) t.set(digest(0x12345678, 7, i), i);
    expect(t.size).toBe(n);
    expect(t.longestProbe()).toBeLessThan(100);
    for (let i = 0; i < n; i += 997) expect(t.get(digest(0x12345678, 7, i))).toBe(i);
    // The same keys under the old home (the first word) form one chain of all of them.
    const weak = new DigestTable(1024, (k, o) => k[o]!);
    for (let i = 0; i < 2000; i++) weak.set(digest(0x12345678, 7, i), i);
    expect(weak.longestProbe()).toBe(1999);
  });

  it('keeps probe chains short for keys whose words have only their top bits set', () => {
    // Homes from a sum of products would be one of 32 slots for all of these, whatever the keys.
    const t = new DigestTable();
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const d = new Uint8Array(32);
      for (let w = 0; w < 4; w++) d[w * 4] = ((i >> (5 * w)) & 31) << 3;
      t.set(d, i);
    }
    expect(t.size).toBe(n);
    expect(t.longestProbe()).toBeLessThan(100);
  });

  it('keeps entries dense across pages through deletes and later sets', () => {
    // More than two pages of 4,096 entries; deletes move the last entry into each hole.
    const t = new DigestTable(16);
    const m = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) {
      t.set(digest(i * 2246822519, i), i);
      m.set(i, i);
    }
    for (let i = 0; i < 10_000; i += 3) {
      const j = (i * 7919) % 10_000;
      expect(t.delete(digest(j * 2246822519, j))).toBe(m.delete(j));
    }
    for (let i = 10_000; i < 12_000; i++) {
      t.set(digest(i * 2246822519, i), i + 1);
      m.set(i, i + 1);
    }
    expect(t.size).toBe(m.size);
    for (let i = 0; i < 12_000; i++) expect(t.get(digest(i * 2246822519, i))).toBe(m.get(i) ?? -1);
    expect(t.longestProbe()).toBeLessThan(100);
  });

  it('agrees with a Map over a long random run of sets and deletes across many pages', () => {
    // Seeded: about 10,000 keys live at once (three pages), each deleted and set again often.
    let seed = 12345;
    const next = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed;
    };
    const t = new DigestTable(16);
    const m = new Map<number, number>();
    const keys = 20_000;
    const check = () => {
      expect(t.size).toBe(m.size);
      for (let k = 0; k < keys; k++) expect(t.get(digest(k, k))).toBe(m.get(k) ?? -1);
    };
    for (let step = 1; step <= 60_000; step++) {
      const x = next();
      const k = x % keys;
      if ((x >>> 20) % 2 === 0) {
        const value = next() & 0x7fffffff;
        t.set(digest(k, k), value);
        m.set(k, value);
      } else {
        expect(t.delete(digest(k, k))).toBe(m.delete(k));
      }
      if (step % 20_000 === 0) check();
    }
    for (const k of [...m.keys()]) expect(t.delete(digest(k, k))).toBe(m.delete(k));
    check();
  });

  it('rejects values it cannot hold', () => {
    const t = new DigestTable();
    for (const v of [-1, 2 ** 31, 1.5, Number.NaN]) {
      expect(() => t.set(digest(1, 1), v)).toThrow(RangeError);
    }
  });

  it('agrees with a Map under random sets and deletes, with colliding homes', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('set', 'delete', 'get'),
            // Few homes and keys: long probe chains that wrap around the table's end.
            fc.constantFrom(0, 1, 15, 16, 31, 0xffffffff),
            fc.integer({ min: 0, max: 40 }),
            fc.integer({ min: 0, max: 1000 }),
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          // Homes from the first word alone: the chains above, on purpose.
          const t = new DigestTable(8, (k, o) => k[o]!);
          const m = new Map<string, number>();
          for (const [op, home, n, value] of ops) {
            const d = digest(home, n);
            const k = `${home}/${n}`;
            if (op === 'set') {
              t.set(d, value);
              m.set(k, value);
            } else if (op === 'delete') {
              expect(t.delete(d)).toBe(m.delete(k));
            }
            expect(t.get(d)).toBe(m.get(k) ?? -1);
          }
          expect(t.size).toBe(m.size);
          for (const [k, v] of m) {
            const [home, n] = k.split('/').map(Number);
            expect(t.get(digest(home!, n!))).toBe(v);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
