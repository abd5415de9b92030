import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compareDigests,
  FENCE_ENTRIES,
  FilterKeys,
  FilterSet,
  PackFilter,
  searchEntries,
} from '../../src/store/pack-filter.js';

const sha = (n: number) => new Uint8Array(createHash('sha256').update(`chunk ${n}`).digest());
const sorted = (ds: Uint8Array[]) => [...ds].sort((a, b) => compareDigests(a, 0, b, 0));

/** Entries of `bytes` bytes each, starting with the digests given, the rest filled with 0xee. */
function entries(ds: Uint8Array[], bytes = 52): Uint8Array {
  const out = new Uint8Array(ds.length * bytes).fill(0xee);
  for (const [i, d] of ds.entries()) out.set(d, i * bytes);
  return out;
}

/** Where a digest is among sorted `ds`, as the filter's blocks and a search of them find it. */
function locate(f: PackFilter, keys: FilterKeys, ds: Uint8Array[], d: Uint8Array): number {
  const p = keys.probe(d);
  for (let b = f.firstBlock(p); b <= f.lastBlock(p); b++) {
    const block = ds.slice(b * FENCE_ENTRIES, (b + 1) * FENCE_ENTRIES);
    const k = searchEntries(entries(block), 52, d);
    if (k >= 0) return b * FENCE_ENTRIES + k;
  }
  return -1;
}

describe('PackFilter', () => {
  it('lets every digest it holds through, and finds its entry', () => {
    const keys = new FilterKeys();
    const ds = sorted(Array.from({ length: 5000 }, (_, i) => sha(i)));
    const f = new PackFilter(ds.length, keys);
    for (const d of ds) expect(f.add(d)).toBe(true);
    // Every entry was added: no more are taken.
    expect(f.add(new Uint8Array(32).fill(0xff))).toBe(false);
    ds.forEach((d, i) => {
      expect(f.mayHold(keys.probe(d))).toBe(true);
      expect(locate(f, keys, ds, d)).toBe(i);
    });
    // About one absent digest in 2,200 gets through (by arithmetic): far fewer than 1 in 200.
    let through = 0;
    for (let i = 5000; i < 45_000; i++) if (f.mayHold(keys.probe(sha(i)))) through++;
    expect(through).toBeLessThan(200);
    expect(locate(f, keys, ds, sha(99_999))).toBe(-1);
  });

  it('refuses digests out of order, repeated, or beyond its count', () => {
    const keys = new FilterKeys();
    const [a, b, c] = sorted([sha(1), sha(2), sha(3)]);
    const f = new PackFilter(3, keys);
    expect(f.add(b!)).toBe(true);
    expect(f.add(a!)).toBe(false);
    expect(f.add(b!)).toBe(false);
    expect(f.add(c!)).toBe(true);
    expect(f.add(new Uint8Array(32).fill(0xff))).toBe(true);
    expect(f.add(new Uint8Array(32).fill(0xff))).toBe(false);
    // An empty pack holds nothing, and has no block to read.
    const empty = new PackFilter(0, keys);
    expect(empty.add(a!)).toBe(false);
    expect(empty.lastBlock(keys.probe(a!))).toBe(-1);
  });

  it('finds digests that share their first word across many blocks (forged ones)', () => {
    // 1,000 digests of one first word, between others: the fences alone cannot tell their
    // blocks apart, so the range covers them all.
    const ds: Uint8Array[] = [];
    for (let i = 0; i < 300; i++)
      ds.push(Uint8Array.of(0x10, 0, 0, i >> 8, i & 0xff, ...new Array(27).fill(0)));
    for (let i = 0; i < 1000; i++)
      ds.push(Uint8Array.of(0x20, 0, 0, 0, i >> 8, i & 0xff, ...new Array(26).fill(7)));
    for (let i = 0; i < 300; i++)
      ds.push(Uint8Array.of(0x30, 0, 0, i >> 8, i & 0xff, ...new Array(27).fill(0)));
    // Every digest passes these keys' filter: only the fences and the search decide.
    const keys = new FilterKeys(
      () => 0,
      () => 1,
    );
    const f = new PackFilter(ds.length, keys);
    for (const d of ds) expect(f.add(d)).toBe(true);
    for (const i of [0, 299, 300, 301, 363, 364, 700, 1299, 1300, 1599]) {
      expect(locate(f, keys, ds, ds[i]!)).toBe(i);
    }
    const absent = Uint8Array.of(0x20, 0, 0, 0, 9, 9, ...new Array(26).fill(7));
    expect(locate(f, keys, ds, absent)).toBe(-1);
    const p = keys.probe(ds[700]!);
    expect(f.lastBlock(p) - f.firstBlock(p)).toBeGreaterThanOrEqual(15);
    // A digest whose first word is below every fence is in no block; one above them all, in
    // the last block only.
    expect(f.lastBlock(keys.probe(new Uint8Array(32)))).toBe(-1);
    const last = Math.ceil(ds.length / FENCE_ENTRIES) - 1;
    const high = keys.probe(new Uint8Array(32).fill(0xff));
    expect([f.firstBlock(high), f.lastBlock(high)]).toEqual([last, last]);
  });

  it('finds any digest of any sorted set (property)', () => {
    const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
    // Few first words, so that fences repeat.
    const forged = fc
      .tuple(fc.integer({ min: 0, max: 3 }), digest)
      .map(([w, d]) => Uint8Array.of(0, 0, 0, w, ...d.subarray(4)));
    fc.assert(
      fc.property(fc.array(fc.oneof(digest, forged), { maxLength: 400 }), (raw) => {
        const ds = sorted(raw).filter(
          (d, i, all) => i === 0 || compareDigests(d, 0, all[i - 1]!, 0) !== 0,
        );
        const keys = new FilterKeys();
        const f = new PackFilter(ds.length, keys);
        for (const d of ds) expect(f.add(d)).toBe(true);
        ds.forEach((d, i) => {
          expect(f.mayHold(keys.probe(d))).toBe(true);
          expect(locate(f, keys, ds, d)).toBe(i);
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('FilterSet', () => {
  /**
   * Filters of the sizes given, each holding digests of its own, placed at their index: each
   * filled as it is made, or all made first (filters move into banks half filled, as a
   * store's may while it reads an index).
   */
  function build(sizes: number[], unplaced: ReadonlySet<number>, fillLater: boolean) {
    const keys = new FilterKeys();
    const set = new FilterSet();
    let next = 0;
    const held = sizes.map((size) => {
      const ds = sorted(Array.from({ length: size }, () => sha(next++)));
      const f = set.create(size, keys);
      for (const d of fillLater ? ds.slice(0, size >> 1) : ds) expect(f.add(d)).toBe(true);
      return { f, ds };
    });
    for (const [i, { f, ds }] of held.entries()) {
      if (fillLater) for (const d of ds.slice(ds.length >> 1)) expect(f.add(d)).toBe(true);
      if (!unplaced.has(i)) f.position = i;
    }
    return { keys, set, held, absent: next };
  }

  it.each([false, true])(
    'finds the newest filter that may hold a digest, in banks and alone (filled later: %s)',
    (fillLater) => {
      // 22 filters of one size (8 alone, then moved into a bank, which takes 8 more; 6 alone
      // after), some of other sizes, one too large for a bank, and one never placed.
      const sizes = [...Array.from({ length: 20 }, () => 300), 40, 5000, 300, 70_000, 1000, 300];
      const { keys, set, held, absent } = build(sizes, new Set([25]), fillLater);
      for (const [i, { ds }] of held.entries()) {
        for (const d of ds.slice(0, 20)) {
          const p = keys.probe(d);
          // Asked from 0, the newest filter letting the digest through is at least its own.
          const got = set.newest(p, 0);
          if (i === 25) {
            expect(got?.position ?? -1).not.toBe(25);
            continue;
          }
          expect(got!.position).toBeGreaterThanOrEqual(i);
          // And it is the newest of all filters that let it through.
          const brute = held
            .filter((h) => h.f.position >= 0 && h.f.mayHold(p))
            .map((h) => h.f.position);
          expect(got!.position).toBe(Math.max(...brute));
          // Asked again below each answer, every one of them, newest first.
          const chain: number[] = [];
          // (Bounded: were `below` ignored, the same answer would come back for ever.)
          for (let f = got; f && chain.length <= held.length; f = set.newest(p, 0, f.position)) {
            chain.push(f.position);
          }
          expect(chain).toEqual(brute.sort((a, b) => b - a));
          // Asked from past it, nothing older is answered.
          const later = set.newest(p, i + 1);
          if (later) expect(later.position).toBeGreaterThan(i);
        }
      }
      // Absent digests: the answer is always what asking each filter gives.
      let through = 0;
      for (let k = absent; k < absent + 20_000; k++) {
        const p = keys.probe(sha(k));
        const got = set.newest(p, 3);
        const brute = held
          .filter((h) => h.f.position >= 3 && h.f.mayHold(p))
          .map((h) => h.f.position);
        expect(got?.position ?? -1).toBe(brute.length ? Math.max(...brute) : -1);
        if (got) through++;
      }
      // 26 filters, each letting about one absent digest in 2,200 through.
      expect(through).toBeLessThan(600);
    },
  );
});

describe('FilterSet.newest below a position', () => {
  it('walks every filter holding a digest, newest first, banked or alone', () => {
    const keys = new FilterKeys();
    const set = new FilterSet();
    const d = sha(1);
    // 20 filters (8 alone, moved into a bank, 8 more there, 4 alone): every third holds d.
    const holding: number[] = [];
    for (let i = 0; i < 20; i++) {
      const f = set.create(1, keys);
      const held = i % 3 === 0;
      f.add(held ? d : sha(100 + i));
      f.position = i;
      if (held) holding.push(i);
    }
    const p = keys.probe(d);
    const chain: number[] = [];
    for (let f = set.newest(p, 0); f && chain.length <= 20; f = set.newest(p, 0, f.position)) {
      chain.push(f.position);
    }
    // Filters of one entry let a few others through: every holder is there, in order.
    expect(chain).toEqual([...chain].sort((a, b) => b - a));
    for (const i of holding) expect(chain).toContain(i);
    expect(set.newest(p, 4, 12)?.position).toBe(chain.find((i) => i >= 4 && i < 12));
  });
});

describe('searchEntries', () => {
  it('finds each entry of a sorted run, and nothing else', () => {
    const ds = sorted(Array.from({ length: 100 }, (_, i) => sha(i)));
    const run = entries(ds, 40);
    ds.forEach((d, i) => {
      expect(searchEntries(run, 40, d)).toBe(i);
    });
    expect(searchEntries(run, 40, sha(100))).toBe(-1);
    expect(searchEntries(new Uint8Array(0), 40, sha(1))).toBe(-1);
    // A partial entry at the end is not searched.
    expect(searchEntries(run.subarray(0, 40 * 99 + 20), 40, ds[99]!)).toBe(-1);
  });
});
