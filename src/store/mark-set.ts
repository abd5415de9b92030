/**
 * The set of chunks a garbage collection keeps. Up to {@link EXACT_MARKS} digests it holds
 * each one's first 64 bits in an open-addressing table (8 bytes a slot, at most half full:
 * 16 MiB at the limit, some 64 GiB of chunks at the default sizes), so that every unmarked
 * chunk goes but for one whose digest shares its first 64 bits with a marked one (about one
 * in 2^44 in a full table). Beyond, it turns into a Bloom filter of those 64 bits, 16 bits a
 * digest under 11 probes (2 bytes a chunk: a store of ten million chunks marks in 20 MB,
 * where the table would take 256 MiB), which answers yes for about one unmarked digest in
 * 2,200 (by arithmetic, as for a pack's filter); that chunk is then kept too, until a later
 * collection (under other random keys) lets it go. Either way every digest marked is kept.
 *
 * Slots and probes come from the digest under keys drawn at random per set, so that digests
 * chosen to share a slot (they come from indexes, outside input) are no likelier to than any
 * others.
 *
 * @module
 */
import { fmix32 } from '../hash/keyed-hash.js';
import { bitOf, filterBits, PROBES } from './pack-filter.js';

/** Digests a set holds exactly; past this many it becomes a Bloom filter. */
export const EXACT_MARKS = 1 << 20;

/** Digests marked to keep. */
export class MarkSet {
  /** Exact form: the first two big-endian words of each digest, a slot of two words each. */
  private table: Uint32Array | undefined;
  /** Filter form: its bits, and how many. */
  private bits: Uint32Array | undefined;
  private m = 0;
  /** Digests in the table. */
  private count = 0;
  /** Whether a digest whose first 64 bits are all zero (an empty slot's) was marked. */
  private zero = false;
  private readonly key = crypto.getRandomValues(new Uint32Array(3));

  /**
   * @param expected - how many distinct digests will be marked: what the table starts at, or
   *   the filter's size when more than `exactLimit` (more than a filter is sized for raise the
   *   share of unmarked digests it lets through).
   * @param exactLimit - digests held exactly at most.
   */
  constructor(
    private readonly expected: number,
    private readonly exactLimit = EXACT_MARKS,
  ) {
    if (expected > exactLimit) this.toFilter();
    else {
      let slots = 1024;
      while (slots < 2 * expected) slots *= 2;
      this.table = new Uint32Array(2 * slots);
    }
  }

  /** Bytes the set holds. */
  get byteLength(): number {
    return (this.table ?? this.bits)!.byteLength;
  }

  /**
   * Marks a digest.
   * @param digest - its 32 bytes.
   * @returns whether it may have been marked before (true for every digest marked before).
   */
  add(digest: Uint8Array): boolean {
    const hi = wordAt(digest, 0);
    const lo = wordAt(digest, 4);
    if (this.table) {
      if ((hi | lo) === 0) {
        const before = this.zero;
        this.zero = true;
        return before;
      }
      const at = this.slotOf(this.table, hi, lo);
      if (this.table[at] !== 0 || this.table[at + 1] !== 0) return true;
      if (this.count + 1 <= this.exactLimit) {
        this.table[at] = hi;
        this.table[at + 1] = lo;
        this.count++;
        if (2 * this.count > this.table.length / 2) this.grow();
        return false;
      }
      this.toFilter();
    }
    return this.setBits(hi, lo);
  }

  /** False when the digest was certainly never marked. */
  has(digest: Uint8Array): boolean {
    const hi = wordAt(digest, 0);
    const lo = wordAt(digest, 4);
    if (this.table) {
      if ((hi | lo) === 0) return this.zero;
      const at = this.slotOf(this.table, hi, lo);
      return this.table[at] !== 0 || this.table[at + 1] !== 0;
    }
    let h = this.home(hi, lo);
    const step = this.step(h);
    const bits = this.bits!;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      if ((bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
      h = (h + step) >>> 0;
    }
    return true;
  }

  /** A digest's keyed 32-bit hash: its home slot, and its filter's first probe. */
  private home(hi: number, lo: number): number {
    return fmix32(fmix32(hi ^ this.key[0]!) ^ lo ^ this.key[1]!);
  }

  /** The distance between a digest's filter probes, odd so that they never fall on one bit. */
  private step(home: number): number {
    return fmix32(home ^ this.key[2]!) | 1;
  }

  /** The index of the slot that holds the 64 bits, or of the empty one where they would go. */
  private slotOf(table: Uint32Array, hi: number, lo: number): number {
    const mask = table.length / 2 - 1;
    for (let slot = this.home(hi, lo) & mask; ; slot = (slot + 1) & mask) {
      const at = 2 * slot;
      const a = table[at]!;
      const b = table[at + 1]!;
      if ((a === hi && b === lo) || (a | b) === 0) return at;
    }
  }

  /** Doubles the table (it is kept at most half full). */
  private grow(): void {
    const old = this.table!;
    const table = new Uint32Array(2 * old.length);
    for (let at = 0; at < old.length; at += 2) {
      const hi = old[at]!;
      const lo = old[at + 1]!;
      if ((hi | lo) === 0) continue;
      const to = this.slotOf(table, hi, lo);
      table[to] = hi;
      table[to + 1] = lo;
    }
    this.table = table;
  }

  /**
   * Moves to the filter form: sized for what was expected, or for four times the exact limit
   * when more than that was marked (so that digests the store lacks, however many the indexes
   * name, cannot grow it further).
   */
  private toFilter(): void {
    const old = this.table;
    this.table = undefined;
    this.m = filterBits(Math.max(this.expected, old ? 4 * this.exactLimit : 0));
    this.bits = new Uint32Array(this.m / 32);
    if (this.zero) this.setBits(0, 0);
    if (!old) return;
    for (let at = 0; at < old.length; at += 2) {
      if ((old[at]! | old[at + 1]!) !== 0) this.setBits(old[at]!, old[at + 1]!);
    }
  }

  /** Sets a digest's filter bits; whether all of them were set already. */
  private setBits(hi: number, lo: number): boolean {
    let h = this.home(hi, lo);
    const step = this.step(h);
    const bits = this.bits!;
    let before = true;
    for (let i = 0; i < PROBES; i++) {
      const bit = bitOf(h, this.m);
      const flag = 1 << (bit & 31);
      if ((bits[bit >>> 5]! & flag) === 0) {
        before = false;
        bits[bit >>> 5]! |= flag;
      }
      h = (h + step) >>> 0;
    }
    return before;
  }
}

/** The big-endian word at `bytes[at]`, unsigned. */
const wordAt = (bytes: Uint8Array, at: number): number =>
  ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
