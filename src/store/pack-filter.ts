/**
 * What a pack store keeps in memory of a sealed pack whose index lists its entries in strictly
 * ascending digest order (what this store's writers write, docs/FORMAT.md §13.2): a Bloom
 * filter of its digests, 16 bits an entry under 11 probes, and the first word of the first
 * digest of every block of {@link FENCE_ENTRIES} entries. About 2.1 bytes an entry, where
 * keeping each entry in a `ChunkTable` takes 13 to 19: a lookup reads the one block of
 * the index file (on disk) that may list the digest, and only when the filter lets it through.
 *
 * The filter answers "maybe" for about one absent digest in 2,200 (by arithmetic: (1 -
 * e^(-11/16))^11), which costs that lookup a block read. A store's filters of packs of about
 * one size share banks of 16 ({@link FilterSet}): one probe sequence asks them all, where
 * asking each pack took most of a lookup in a store of many packs. The probes come from keyed
 * hashes under keys drawn at random per store, so that digests chosen to pass a filter (they
 * come from indexes and diffs, outside input) are no likelier to than any others.
 *
 * @module
 */
import {
  digestWords,
  fmix32,
  KEY_WORDS,
  type KeyHash,
  randomKeyedHash,
} from '../hash/keyed-hash.js';

/** Entries of a sorted index per block read at a lookup (3,328 bytes of index). */
export const FENCE_ENTRIES = 64;
/**
 * Filter bits per entry. With 12 bits and 8 probes (1 absent digest in 300 let through), a
 * store of 7 packs read 2,000 blocks by chance while 200,000 chunks were looked up in the order
 * they were written, most of its reads.
 */
const BITS_PER_ENTRY = 16;
/** Bits a digest sets, and a lookup tests. */
export const PROBES = 11;

/** What a lookup computes once of a digest, for every filter it asks. */
export interface DigestProbe {
  /** Start and step of the filter's probes. */
  readonly start: number;
  readonly step: number;
  /** The digest's first big-endian word, which the fences hold. */
  readonly first: number;
}

/** The keyed hashes every filter of one store shares, so that a probe serves them all. */
export class FilterKeys {
  private readonly words = new Uint32Array(KEY_WORDS);

  /**
   * @param start - hash of a digest's words giving the first probe; random keys by default.
   * @param step - the distance between probes, from the first: a mix of it under a random key
   *   by default (one keyed hash of the digest instead of two: opening a store of one sorted
   *   index of 4.2 million entries took 7.1 s with two).
   */
  constructor(
    private readonly start: KeyHash = randomKeyedHash(),
    private readonly step: (start: number) => number = stepUnder(randomWord()),
  ) {}

  /** The probe of the 32-byte digest at `digest[at]`. */
  probe(digest: Uint8Array, at = 0): DigestProbe {
    digestWords(digest, this.words, 0, at);
    const start = this.start(this.words);
    // An odd step: with an even one, probes could fall on one bit again and again.
    return { start, step: this.step(start) | 1, first: this.words[0]! };
  }
}

/** A random 32-bit word. */
const randomWord = (): number => crypto.getRandomValues(new Uint32Array(1))[0]!;

/** A step from the first probe under `key`: MurmurHash3's finalizer of the two. */
function stepUnder(key: number): (start: number) => number {
  return (start) => fmix32(start ^ key);
}

/**
 * Compares the 32-byte digests at `a[aAt]` and `b[bAt]`, byte by byte.
 * @returns negative, zero or positive as the first sorts before, with or after the second.
 */
export function compareDigests(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): number {
  for (let i = 0; i < 32; i++) {
    const d = a[aAt + i]! - b[bAt + i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Finds a digest among index entries in ascending digest order.
 * @param entries - whole entries of `entryBytes` bytes, each starting with its digest.
 * @returns the entry's number in `entries`, or -1.
 */
export function searchEntries(entries: Uint8Array, entryBytes: number, digest: Uint8Array): number {
  let lo = 0;
  let hi = Math.floor(entries.length / entryBytes) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareDigests(entries, mid * entryBytes, digest, 0);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/**
 * Filters of this many packs share a bank: one bit (lane) of every word of its bits each, so
 * that one probe sequence asks them all. A miss (most lookups are of new chunks) costs each
 * pack about two probes of its own filter: a miss in a store of 1,024 packs took 99–140 µs
 * that way with blocking reads, 20–28 with banks (`npm run bench:lookups` measures it).
 */
const LANES = 16;
/**
 * Largest pack whose filter goes in a bank; larger ones (older writers wrote up to 2^22
 * entries) keep bits of their own.
 */
const BANK_ENTRIES = 1 << 16;
/** Filters of one size class kept alone before they move into a bank. */
const BANK_AFTER = LANES / 2;

/**
 * The bit of a filter of `m` bits a probe word picks: the word times `m` over 2^32 (Lemire's
 * reduction), where `h % m` of a word above 2^31 is a floating-point remainder.
 */
export const bitOf = (h: number, m: number): number => Math.floor((h * m) / 4294967296);

/** Filter bits for a count of entries: {@link BITS_PER_ENTRY} each, a multiple of 32. */
export const filterBits = (count: number): number =>
  Math.max(32, Math.ceil((count * BITS_PER_ENTRY) / 32) * 32);

/**
 * The filters of up to {@link LANES} packs of about one size, interleaved: bit `i` of lane
 * `k`'s filter is bit `k` of word `i`.
 */
export class FilterBank {
  readonly words: Uint16Array;
  readonly filters: PackFilter[] = [];

  /** @param m - bits of each filter. */
  constructor(readonly m: number) {
    this.words = new Uint16Array(m);
  }

  /** Whether every lane is taken. */
  get full(): boolean {
    return this.filters.length === LANES;
  }

  /** The lanes (a bit each) whose filters may list the probe's digest. */
  lanes(p: DigestProbe): number {
    let mask = (1 << this.filters.length) - 1;
    let h = p.start;
    for (let i = 0; i < PROBES && mask !== 0; i++) {
      mask &= this.words[bitOf(h, this.m)]!;
      h = (h + p.step) >>> 0;
    }
    return mask;
  }
}

/**
 * Every filter of a store. A filter of a pack up to {@link BANK_ENTRIES} entries has as many
 * bits as its size class (its count rounded up by at most a quarter) needs; once
 * {@link BANK_AFTER} filters of one class are alone, they move into a bank of that class,
 * and the next ones of the class go there too, until it is full. (A bank holds
 * {@link LANES} filters' bits from the start: banking the first filters of a store would
 * take up to 15 filters' memory for nothing.) It finds the newest filter that may list a
 * digest by asking each bank once, and each filter alone.
 */
export class FilterSet {
  private readonly banks: FilterBank[] = [];
  /** Per filter size, the bank still taking filters. */
  private readonly filling = new Map<number, FilterBank>();
  /** Filters with bits of their own: larger than a bank takes, or waiting for a bank. */
  private alone: PackFilter[] = [];
  /** Per filter size, the filters alone that go into a bank once there are enough. */
  private readonly waiting = new Map<number, PackFilter[]>();

  /**
   * A filter for a sealed pack of `count` entries (see {@link PackFilter}); it takes part in
   * {@link newest} once its `position` is set. One never placed (its index changed as it was
   * read, or was not in order) keeps its bits and lane, answering nothing.
   */
  create(count: number, keys: FilterKeys): PackFilter {
    if (count > BANK_ENTRIES) {
      const f = new PackFilter(count, keys);
      this.alone.push(f);
      return f;
    }
    const m = filterBits(sizeClass(count));
    const bank = this.filling.get(m);
    if (bank && !bank.full) return new PackFilter(count, keys, m, bank);
    const f = new PackFilter(count, keys, m);
    this.alone.push(f);
    const waiting = this.waiting.get(m) ?? [];
    this.waiting.set(m, waiting);
    if (waiting.push(f) === BANK_AFTER) {
      const fresh = new FilterBank(m);
      for (const w of waiting) w.moveInto(fresh);
      this.banks.push(fresh);
      this.filling.set(m, fresh);
      this.waiting.delete(m);
      this.alone = this.alone.filter((a) => !waiting.includes(a));
    }
    return f;
  }

  /**
   * Of the filters whose `position` is at least `from` and below `below`, the one of the
   * highest position that may list the probe's digest (asked again with `below` set to its
   * position, the next one down).
   */
  newest(p: DigestProbe, from: number, below = Number.POSITIVE_INFINITY): PackFilter | undefined {
    let best: PackFilter | undefined;
    const takes = (f: PackFilter) =>
      f.position >= from && f.position < below && (!best || f.position > best.position);
    for (const bank of this.banks) {
      for (let mask = bank.lanes(p); mask !== 0; ) {
        const lane = 31 - Math.clz32(mask);
        mask ^= 1 << lane;
        const f = bank.filters[lane]!;
        if (takes(f)) best = f;
      }
    }
    for (const f of this.alone) if (takes(f) && f.mayHold(p)) best = f;
    return best;
  }
}

/**
 * `count` rounded up to a size of filter bank: 64, or a multiple of a quarter of the power of
 * two at or below it (a quarter more at most).
 */
function sizeClass(count: number): number {
  if (count <= 64) return 64;
  const step = 2 ** (Math.floor(Math.log2(count)) - 2);
  return Math.ceil(count / step) * step;
}

/** A sealed pack's filter and fences: see the module comment. */
export class PackFilter {
  /**
   * The pack's place among the store's filtered packs, once it is one ({@link FilterSet}
   * skips the filter until then); -1 before.
   */
  position = -1;
  /** Bits in the filter: a multiple of 32. */
  private readonly m: number;
  /** The filter's own bits, or none in a bank. */
  private bits: Uint32Array | undefined;
  private bank: FilterBank | undefined;
  private lane = 0;
  private readonly fences: Uint32Array;
  private added = 0;
  private readonly last = new Uint8Array(32);

  /**
   * @param count - entries the index lists: {@link add} must be called that many times, in
   *   index order.
   * @param keys - the store's keys (see {@link FilterKeys}).
   * @param m - bits of the filter, a multiple of 32 (its bank's); {@link BITS_PER_ENTRY} an
   *   entry by default.
   * @param bank - the bank whose lane holds the filter's bits; bits of its own when none.
   */
  constructor(
    readonly count: number,
    private readonly keys: FilterKeys,
    m = filterBits(count),
    bank?: FilterBank,
  ) {
    this.fences = new Uint32Array(Math.ceil(count / FENCE_ENTRIES));
    this.m = m;
    if (bank) {
      this.bank = bank;
      this.lane = bank.filters.push(this) - 1;
    } else {
      this.bits = new Uint32Array(m / 32);
    }
  }

  /** Moves the filter's own bits into a lane of `bank` (of filters of its size), for good. */
  moveInto(bank: FilterBank): void {
    const bits = this.bits!;
    this.lane = bank.filters.push(this) - 1;
    const flag = 1 << this.lane;
    for (let w = 0; w < bits.length; w++) {
      for (let word = bits[w]!; word !== 0; word &= word - 1) {
        bank.words[w * 32 + (31 - Math.clz32(word & -word))]! |= flag;
      }
    }
    this.bank = bank;
    this.bits = undefined;
  }

  /**
   * Adds the next entry's digest.
   * @param digest - holds its 32 bytes at `at` (nothing keeps it).
   * @returns false, adding nothing, when the digest does not sort strictly after the last one
   *   (the index is not in digest order, or lists a digest twice), or every entry was added.
   */
  add(digest: Uint8Array, at = 0): boolean {
    if (this.added === this.count) return false;
    if (this.added > 0 && compareDigests(digest, at, this.last, 0) <= 0) return false;
    for (let i = 0; i < 32; i++) this.last[i] = digest[at + i]!;
    const p = this.keys.probe(digest, at);
    if (this.added % FENCE_ENTRIES === 0) this.fences[this.added / FENCE_ENTRIES] = p.first;
    let h = p.start;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      if (this.bank) this.bank.words[bit]! |= 1 << this.lane;
      else this.bits![bit >>> 5]! |= 1 << (bit & 31);
      h = (h + p.step) >>> 0;
    }
    this.added++;
    return true;
  }

  /** False when the pack certainly lists no entry of the probe's digest. */
  mayHold(p: DigestProbe): boolean {
    let h = p.start;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      const set = this.bank
        ? this.bank.words[bit]! & (1 << this.lane)
        : this.bits![bit >>> 5]! & (1 << (bit & 31));
      if (set === 0) return false;
      h = (h + p.step) >>> 0;
    }
    return true;
  }

  /**
   * The first of the blocks of {@link FENCE_ENTRIES} entries that may list the probe's
   * digest: the last block whose first digest's word is below the digest's (see
   * {@link lastBlock}).
   */
  firstBlock(p: DigestProbe): number {
    return Math.max(0, upperBound(this.fences, p.first - 1) - 1);
  }

  /**
   * The last of the blocks that may list the probe's digest: the last block whose first
   * digest's word is at most the digest's. It is {@link firstBlock} but when several blocks
   * start with digests of the digest's first word (which the digests of an index, outside
   * input, may be chosen to do); -1 for an empty pack.
   */
  lastBlock(p: DigestProbe): number {
    return upperBound(this.fences, p.first) - 1;
  }
}

/** How many of the ascending `words` are at most `value` (-1 counts none). */
function upperBound(words: Uint32Array, value: number): number {
  let lo = 0;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (words[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
