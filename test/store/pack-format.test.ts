import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PackFormatError } from '../../src/errors.js';
import { crc32 } from '../../src/hash/crc32.js';
import { compareDigests } from '../../src/store/pack-filter.js';
import {
  decodeIndexEntry,
  decodePackIndex,
  decodeRecordHeader,
  encodePackIndex,
  encodeRecordHeader,
  INDEX_ENTRY_BYTES,
  type PackEntry,
  PackIndexBuilder,
  PackIndexCheck,
  RECORD_HEADER_BYTES,
  visitPackIndex,
} from '../../src/store/pack-format.js';

const d = (n: number) => new Uint8Array(32).fill(n);
const entries: PackEntry[] = [
  { digest: d(1), offset: 8, coding: 'identity', stored: 100, raw: 100 },
  {
    digest: d(2),
    offset: 8 + RECORD_HEADER_BYTES + 100,
    coding: 'deflate-raw',
    stored: 40,
    raw: 4000,
  },
];
const packSize = 8 + 2 * RECORD_HEADER_BYTES + 140;

/** Checks an index file in pieces of one entry, as a store reads it. */
function checkInPieces(bytes: Uint8Array): void {
  const check = new PackIndexCheck(bytes.subarray(0, 20), bytes.length, 'x.idx');
  for (let at = 20; at < check.body; at += INDEX_ENTRY_BYTES) {
    check.entries(bytes.subarray(at, at + INDEX_ENTRY_BYTES));
  }
  check.finish(bytes.subarray(check.body));
}

/** Expects both a whole check and one in pieces to refuse `bytes`, with the same error. */
function rejects(bytes: Uint8Array, pattern: RegExp, offset?: number): void {
  const errors = [() => decodePackIndex(bytes, 'x.idx'), () => checkInPieces(bytes)].map((f) => {
    try {
      f();
    } catch (e) {
      return e;
    }
    return undefined;
  });
  for (const err of errors) {
    expect(err).toBeInstanceOf(PackFormatError);
    expect((err as PackFormatError).code).toBe('ERR_PACK_FORMAT');
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).toContain('x.idx');
    if (offset !== undefined) expect((err as PackFormatError).offset).toBe(offset);
  }
  expect((errors[1] as Error).message).toBe((errors[0] as Error).message);
}

/** Re-encodes an index after `edit` changed its entries (a valid checksum over bad content). */
const withEntries = (edit: (e: PackEntry[]) => PackEntry[], size = packSize) =>
  encodePackIndex(edit(entries.map((e) => ({ ...e }))), size);

describe('pack index', () => {
  it('round-trips', () => {
    const bytes = encodePackIndex(entries, packSize);
    checkInPieces(bytes);
    // Pieces must be whole entries, in order, and the checksum comes last.
    const check = new PackIndexCheck(bytes.subarray(0, 20), bytes.length, 'x.idx');
    expect(() => check.entries(bytes.subarray(20, 30))).toThrow(RangeError);
    expect(() => check.finish(bytes.subarray(-4))).toThrow(RangeError);
    expect(bytes.length).toBe(20 + 2 * INDEX_ENTRY_BYTES + 4);
    expect(decodePackIndex(bytes, 'x.idx')).toEqual({ packSize, entries });
  });

  it('tells a sorted index from others, whole and in pieces', () => {
    const many: PackEntry[] = Array.from({ length: 6 }, (_, i) => ({
      digest: Uint8Array.from({ length: 32 }, (_, j) => (j === 5 ? 10 * i : 1)),
      offset: 8 + i * 100,
      coding: 'identity',
      stored: 10,
      raw: 10,
    }));
    const size = 8 + 6 * 100;
    /** Whether a check of the whole file, and one in pieces of `piece` entries, find it sorted. */
    const sortedness = (bytes: Uint8Array, piece: number) => {
      const check = new PackIndexCheck(bytes.subarray(0, 20), bytes.length, 'x.idx');
      for (let at = 20; at < check.body; at += piece * INDEX_ENTRY_BYTES) {
        check.entries(bytes.subarray(at, Math.min(check.body, at + piece * INDEX_ENTRY_BYTES)));
      }
      return check.sorted;
    };
    const sortedIndex = encodePackIndex(many, size);
    /** The encoded index with entries `i` and `j` swapped (and its checksum redone). */
    const swapped = (i: number, j: number) => {
      const b = sortedIndex.slice();
      const at = (k: number) => 20 + k * INDEX_ENTRY_BYTES;
      b.set(sortedIndex.subarray(at(i), at(i) + INDEX_ENTRY_BYTES), at(j));
      b.set(sortedIndex.subarray(at(j), at(j) + INDEX_ENTRY_BYTES), at(i));
      new DataView(b.buffer).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)));
      return b;
    };
    const repeated = sortedIndex.slice();
    repeated.set(
      sortedIndex.subarray(20 + 2 * INDEX_ENTRY_BYTES, 20 + 2 * INDEX_ENTRY_BYTES + 32),
      20 + 3 * INDEX_ENTRY_BYTES,
    );
    new DataView(repeated.buffer).setUint32(
      repeated.length - 4,
      crc32(repeated.subarray(0, repeated.length - 4)),
    );
    for (const piece of [1, 2, 3, 6]) {
      expect(sortedness(sortedIndex, piece)).toBe(true);
      // Out of order across a piece's end (2 and 3), inside one, and a digest listed twice.
      expect(sortedness(swapped(2, 3), piece)).toBe(false);
      expect(sortedness(swapped(0, 1), piece)).toBe(false);
      expect(sortedness(repeated, piece)).toBe(false);
    }
  });

  it('sorts entries by whole digests, also those that share their first 31 bits', () => {
    let seed = 77;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 16;
    };
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 300,
        }),
        (picks) => {
          // Few prefixes (two of them differ only in their 32nd bit), and random rests.
          const prefixes = [
            [0, 0, 0, 4],
            [0, 0, 0, 5],
            [0x80, 1, 2, 3],
            [0xff, 0xff, 0xff, 0xff],
          ];
          const entries: PackEntry[] = picks.map(([p, last], i) => {
            const digest = Uint8Array.from({ length: 32 }, () => random() & 0xff);
            digest.set(prefixes[p]!, 0);
            digest[31] = last;
            return { digest, offset: 8 + i * 100, coding: 'identity', stored: 10, raw: 10 };
          });
          const size = 8 + picks.length * 100;
          const decoded = decodePackIndex(encodePackIndex(entries, size), 'x.idx').entries;
          const expected = [...entries].sort((a, b) => compareDigests(a.digest, 0, b.digest, 0));
          expect(decoded).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is built entry by entry, growing as needed; removed entries are left out', () => {
    const many: PackEntry[] = Array.from({ length: 700 }, (_, i) => ({
      // Distinct digests, not added in digest order.
      digest: Uint8Array.from({ length: 32 }, (_, j) => (j === 1 ? i >> 8 : (i * 7 + j) & 0xff)),
      offset: 8 + i * (RECORD_HEADER_BYTES + 10),
      coding: i % 3 === 0 ? 'deflate-raw' : i % 3 === 1 ? 'lz4-block' : 'identity',
      stored: 10,
      raw: i % 3 === 2 ? 10 : 30,
    }));
    const size = 8 + many.length * (RECORD_HEADER_BYTES + 10);
    const whole = new PackIndexBuilder();
    for (const e of many) whole.add(e);
    expect(whole.encode(size)).toEqual(encodePackIndex(many, size));
    const builder = new PackIndexBuilder();
    const slots = many.map((e) => builder.add(e));
    for (const i of [0, 299, 699, 299]) builder.remove(slots[i]!);
    const kept = many.filter((_, i) => i !== 0 && i !== 299 && i !== 699);
    expect(builder.size).toBe(697);
    const bytes = builder.encode(size);
    expect(bytes).toEqual(encodePackIndex(kept, size));
    // In ascending digest order.
    const sorted = [...kept].sort((a, b) => compareDigests(a.digest, 0, b.digest, 0));
    expect(sorted.map((e) => e.digest[0])).not.toEqual(kept.map((e) => e.digest[0]));
    expect(decodePackIndex(bytes, 'x.idx').entries).toEqual(sorted);
    // Encoding again (a publication retried) gives the same index.
    expect(builder.encode(size)).toEqual(encodePackIndex(kept, size));
    const seen: number[][] = [];
    builder.forEachDigest((digest) => seen.push([...digest]));
    expect(seen).toEqual(sorted.map((e) => [...e.digest]));
    // Slots no longer name entries: each is found by its digest.
    for (const i of [1, 298, 300, 698]) {
      expect(builder.find(slots[i]!, many[i]!.digest)).toEqual(many[i]);
      expect(builder.find(0, many[i]!.digest)).toEqual(many[i]);
    }
    expect(builder.find(slots[0]!, many[0]!.digest)).toBeUndefined();
    expect(() => builder.remove(slots[1]!)).toThrow(RangeError);
  });

  it('finds an entry by slot only when it lists the digest, offsets beyond 32 bits included', () => {
    const builder = new PackIndexBuilder();
    const offsets = [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 43, 2 ** 53 - 2 ** 20];
    const big = offsets.map((offset, i) => ({ ...entries[0]!, digest: d(10 + i), offset }));
    const slots = big.map((e) => builder.add(e));
    big.forEach((e, i) => {
      expect(builder.find(slots[i]!, e.digest)).toEqual(e);
    });
    // Another slot's digest, a slot never handed out, a fractional one, a removed entry.
    expect(builder.find(slots[0]!, big[1]!.digest)).toBeUndefined();
    for (const slot of [-1, big.length, 0.5])
      expect(builder.find(slot, big[0]!.digest)).toBeUndefined();
    builder.remove(slots[2]!);
    expect(builder.find(slots[2]!, big[2]!.digest)).toBeUndefined();
    // Through the index file and back, entry by entry.
    const size = 2 ** 53 - 1;
    const bytes = builder.encode(size);
    const kept = big.filter((_, i) => i !== 2);
    kept.forEach((e, i) => {
      const at = 20 + i * INDEX_ENTRY_BYTES;
      expect(
        decodeIndexEntry(bytes.subarray(at, at + INDEX_ENTRY_BYTES), size, 'x.idx', at),
      ).toEqual(e);
    });
  });

  it('decodes one entry with the checks of a whole index, naming the file and offset', () => {
    const one = encodePackIndex(entries, packSize).subarray(20, 20 + INDEX_ENTRY_BYTES);
    const decode =
      (bytes: Uint8Array, size = packSize) =>
      () =>
        decodeIndexEntry(bytes, size, 'x.idx', 72);
    expect(decode(one)()).toEqual(entries[0]);
    const expectBad = (bytes: Uint8Array, pattern: RegExp, size?: number) => {
      let err: unknown;
      try {
        decode(bytes, size)();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PackFormatError);
      expect((err as PackFormatError).file).toBe('x.idx');
      expect((err as PackFormatError).offset).toBe(72);
      expect((err as Error).message).toMatch(pattern);
    };
    expectBad(one.subarray(0, 51), /cut short/);
    // An offset whose high word is all ones: beyond any pack.
    const high = one.slice();
    high.fill(0xff, 32, 36);
    expectBad(high, /record at \d+ lies outside the pack's/);
    expectBad(one, /lies outside the pack's 100 bytes/, 100);
    const coding = one.slice();
    coding[40] = 9;
    expectBad(coding, /unknown chunk coding 9/);
    const stored = one.slice();
    new DataView(stored.buffer).setUint32(44, 101);
    expectBad(stored, /101 bytes stored for a identity chunk of 100/);
  });

  it('refuses an unknown coding and a slot it never handed out', () => {
    const builder = new PackIndexBuilder();
    const e = entries[0]!;
    expect(() => builder.add({ ...e, coding: 'zstd' as PackEntry['coding'] })).toThrow(RangeError);
    expect(() => builder.remove(0)).toThrow(RangeError);
    builder.add(e);
    expect(() => builder.remove(1)).toThrow(RangeError);
    expect(() => builder.remove(-1)).toThrow(RangeError);
    expect(builder.size).toBe(1);
  });

  it('refuses damage and impossible entries, naming the file and offset', () => {
    const good = encodePackIndex(entries, packSize);
    rejects(good.subarray(0, 10), /cut short/);
    const magic = good.slice();
    magic[1] = 0;
    rejects(magic, /bad magic/, 1);
    const flipped = good.slice();
    flipped[30]! ^= 1;
    rejects(flipped, /checksum mismatch/);
    const count = good.slice();
    new DataView(count.buffer).setUint32(8, 1000);
    rejects(count, /1000 entries do not fit/, 8);
    rejects(new Uint8Array([...good, 0]), /do not fit/);
    rejects(
      withEntries(([a, b]) => [a!, { ...b!, offset: packSize }]),
      /outside the pack/,
      20 + INDEX_ENTRY_BYTES,
    );
    rejects(
      withEntries(([a]) => [{ ...a!, offset: 0 }]),
      /outside the pack/,
      20,
    );
    rejects(
      withEntries(([a]) => [{ ...a!, stored: 99 }]),
      /99 bytes stored for a identity chunk/,
    );
    rejects(
      withEntries(([a]) => [{ ...a!, raw: 2 ** 31, stored: 2 ** 31 }]),
      /chunk of/,
    );
    rejects(
      withEntries(([, b]) => [{ ...b!, stored: 4000 + 65 * 1024 }]),
      /stored for a deflate-raw chunk/,
    );
    // Two entries for one record: they claim more bytes than the pack holds.
    rejects(
      withEntries(([a]) => [a!, { ...a! }]),
      /records claim more than the pack's/,
      20 + INDEX_ENTRY_BYTES,
    );
    // A bad entry after a good one: no entry is handed over at all.
    let visited = 0;
    expect(() =>
      visitPackIndex(
        withEntries(([a, b]) => [a!, { ...b!, offset: packSize }]),
        'x.idx',
        () => visited++,
      ),
    ).toThrow(/outside the pack/);
    expect(visited).toBe(0);
    // A bad coding under a good checksum.
    const fixed = encodePackIndex(entries, packSize);
    fixed[20 + 32 + 8] = 7;
    const body = fixed.subarray(0, fixed.length - 4);
    const crc = crc32(body);
    new DataView(fixed.buffer).setUint32(fixed.length - 4, crc);
    rejects(fixed, /unknown chunk coding 7/, 20);
  });
});

describe('record header', () => {
  it('round-trips and refuses bad fields', () => {
    const h = { digest: d(9), coding: 'deflate-raw' as const, stored: 10, raw: 20 };
    const bytes = encodeRecordHeader(h);
    expect(bytes.length).toBe(RECORD_HEADER_BYTES);
    expect(decodeRecordHeader(bytes, 'p.pack', 8)).toEqual(h);
    expect(() => decodeRecordHeader(bytes.subarray(0, 40), 'p.pack', 8)).toThrow(/cut short/);
    const bad = bytes.slice();
    bad[32] = 3;
    expect(() => decodeRecordHeader(bad, 'p.pack', 8)).toThrow(
      /p\.pack: unknown chunk coding 3 \(at byte 8\)/,
    );
    const odd = encodeRecordHeader({ ...h, coding: 'identity' });
    expect(() => decodeRecordHeader(odd, 'p.pack', 8)).toThrow(PackFormatError);
  });
});
