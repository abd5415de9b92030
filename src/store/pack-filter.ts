/**
 * What a pack store keeps in memory of a sealed pack whose index lists its entries in strictly
 * ascending digest order (what this store's writers write, docs/FORMAT.md §13.2): a Bloom
 * filter of its digests, 16 bits an entry under 11 probes, and the first word of the first
 * digest of every block of {@link FENCE_ENTRIES} entries. About 2.1 bytes an entry, where
 * keeping each entry in a `ChunkTable` takes 13 to 19: a lookup reads the one block of
 * the index file (on disk) that may list the digest, and only when the filter lets it through.
 *
 * The filter answers "maybe" for about one absent digest in 2,200 (by arithmetic: (1 -
 * e^(-11/16))^11), which costs that lookup a block read. Its probes come from keyed hashes under
 * keys drawn at random per store, so that digests chosen to pass it (they come from indexes
 * and diffs, outside input) are no likelier to than any others.
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
const PROBES = 11;

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

/** A sealed pack's filter and fences: see the module comment. */
export class PackFilter {
  private readonly bits: Uint32Array;
  /** Bits in the filter: a multiple of 32. */
  private readonly m: number;
  private readonly fences: Uint32Array;
  private added = 0;
  private readonly last = new Uint8Array(32);

  /**
   * @param count - entries the index lists: {@link add} must be called that many times, in
   *   index order.
   * @param keys - the store's keys (see {@link FilterKeys}).
   */
  constructor(
    readonly count: number,
    private readonly keys: FilterKeys,
  ) {
    this.m = Math.max(32, Math.ceil((count * BITS_PER_ENTRY) / 32) * 32);
    this.bits = new Uint32Array(this.m / 32);
    this.fences = new Uint32Array(Math.ceil(count / FENCE_ENTRIES));
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
      const bit = h % this.m;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
      h = (h + p.step) >>> 0;
    }
    this.added++;
    return true;
  }

  /** False when the pack certainly lists no entry of the probe's digest. */
  mayHold(p: DigestProbe): boolean {
    let h = p.start;
    for (let i = 0; i < PROBES; i++) {
      const bit = h % this.m;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
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
