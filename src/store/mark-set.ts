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
import { FilterKeys } from './pack-filter.js';

/** Filter bits a digest the set is sized for. */
const BITS_PER_DIGEST = 16;
/** Bits a digest sets, and a test checks. */
const PROBES = 11;

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
    const words = Math.max(32, Math.ceil((Math.max(0, expected) * BITS_PER_DIGEST) / 32));
    this.bits = new Uint32Array(words);
    this.m = words * 32;
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
      const bit = Math.floor((h * this.m) / 4294967296);
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
      const bit = Math.floor((h * this.m) / 4294967296);
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h = (h + p.step) >>> 0;
    }
    return true;
  }
}
