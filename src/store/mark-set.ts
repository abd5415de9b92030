/**
 * The set of chunks a garbage collection keeps, as a Bloom filter: 16 bits a chunk under 11
 * probes, so that marking a store of ten million chunks takes 20 MB, where a set of digests
 * would take some 500. A filter never forgets a digest it was given, so every chunk marked is
 * kept; it also answers yes for about one unmarked digest in 2,200 (by arithmetic, as for a
 * pack's filter), whose chunk is then kept too, until a later collection (under other random
 * keys) lets it go.
 *
 * @module
 */
import { bitOf, FilterKeys, filterBits, PROBES } from './pack-filter.js';

/** Digests marked to keep. */
export class MarkSet {
  private readonly bits: Uint32Array;
  /** Bits in the filter. */
  private readonly m: number;

  /**
   * @param expected - how many distinct digests will be marked (more raise the share of
   *   unmarked digests the set lets through).
   * @param keys - the probes' keyed hashes; random keys by default.
   */
  constructor(
    expected: number,
    private readonly keys: FilterKeys = new FilterKeys(),
  ) {
    // A pack's filter's size and probes: the same false-positive rate.
    this.m = filterBits(Math.max(0, expected));
    this.bits = new Uint32Array(this.m / 32);
  }

  /** Bytes the set holds. */
  get byteLength(): number {
    return this.bits.byteLength;
  }

  /**
   * Marks a digest.
   * @param digest - its 32 bytes.
   * @returns whether it may have been marked before (true for every digest marked before).
   */
  add(digest: Uint8Array): boolean {
    const p = this.keys.probe(digest);
    let h = p.start;
    let before = true;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      const flag = 1 << (bit & 31);
      if ((this.bits[bit >>> 5]! & flag) === 0) {
        before = false;
        this.bits[bit >>> 5]! |= flag;
      }
      h = (h + p.step) >>> 0;
    }
    return before;
  }

  /** False when the digest was certainly never marked. */
  has(digest: Uint8Array): boolean {
    const p = this.keys.probe(digest);
    let h = p.start;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h = (h + p.step) >>> 0;
    }
    return true;
  }
}
