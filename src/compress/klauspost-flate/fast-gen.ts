/**
 * What klauspost/compress's fast deflate levels share: the history they match against (up
 * to five blocks of 65,535 bytes, moved down to the last 32 KiB when full), the position
 * offset `cur` that table entries are stored relative to, and the hashes, which multiply
 * 64-bit words. JavaScript has no 64-bit integer arithmetic outside BigInt, so a word is
 * kept as two 32-bit halves and the products are assembled from 16-bit pieces.
 *
 * @module
 */
import { MAX_MATCH_LENGTH, MAX_MATCH_OFFSET, MAX_STORE_BLOCK_SIZE } from '../go-flate/tokens.js';

/** Bits of the hash tables' indexes. */
export const TABLE_BITS = 15;
/** Entries in a hash table. */
export const TABLE_SIZE = 1 << TABLE_BITS;
/** History kept: five blocks. */
const ALLOC_HISTORY = MAX_STORE_BLOCK_SIZE * 5;
/** When `cur` reaches this, tables are rebased (or cleared). */
export const BUFFER_RESET = 2 ** 31 - ALLOC_HISTORY - MAX_STORE_BLOCK_SIZE - 1;

const PRIME4 = 2654435761 | 0;
/** klauspost's `prime7bytes` (0x00cf1bbcdcbfa563) as two halves. */
const PRIME7_HI = 0x00cf1bbc;
const PRIME7_LO = 0xdcbfa563;

/** The high 32 bits of the 64-bit product of two unsigned 32-bit numbers. */
function mulHigh(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const m1 = a1 * b0;
  const m2 = a0 * b1;
  const mid = ((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  return (a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + (mid >>> 16)) >>> 0;
}

/** A 4-byte hash of `lo` (a word's low half) into {@link TABLE_BITS} bits. */
export function hash4(lo: number): number {
  return Math.imul(lo, PRIME4) >>> (32 - TABLE_BITS);
}

/** A 7-byte hash of the word `hi:lo` into {@link TABLE_BITS} bits. */
export function hash7(lo: number, hi: number): number {
  // (word << 8) * prime7, modulo 2^64; the hash is the top bits of its high half.
  const slo = (lo << 8) >>> 0;
  const shi = ((hi << 8) | (lo >>> 24)) >>> 0;
  const high = mulHigh(slo, PRIME7_LO) + Math.imul(slo, PRIME7_HI) + Math.imul(shi, PRIME7_LO);
  return (high >>> 0) >>> (32 - TABLE_BITS);
}

/** The little-endian 32-bit word at `i`. */
export function load32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** The history and position offset of a fast encoder. */
export class FastGen {
  /** Bytes seen, the newest last; `hist[0..histLen)` is in use. */
  readonly hist = new Uint8Array(ALLOC_HISTORY);
  histLen = 0;
  /** Added to positions in `hist` to make the values stored in the tables. */
  cur = MAX_STORE_BLOCK_SIZE;

  /** Appends `src` to the history (moving it down first if full); returns where it starts. */
  addBlock(src: Uint8Array): number {
    if (this.histLen + src.length > this.hist.length) {
      const offset = this.histLen - MAX_MATCH_OFFSET;
      this.hist.copyWithin(0, offset, this.histLen);
      this.cur += offset;
      this.histLen = MAX_MATCH_OFFSET;
    }
    const s = this.histLen;
    this.hist.set(src, s);
    this.histLen += src.length;
    return s;
  }

  /** Forgets the history: every table entry falls out of reach. */
  reset(): void {
    if (this.cur <= BUFFER_RESET) this.cur += MAX_MATCH_OFFSET + this.histLen;
    this.histLen = 0;
  }

  /** How many bytes from `s` match those from `t`, at most 254 (`s > t`). */
  matchLen(s: number, t: number): number {
    const end = Math.min(s + MAX_MATCH_LENGTH - 4, this.histLen);
    return this.matchTo(s, t, end);
  }

  /** How many bytes from `s` match those from `t`, up to the end of the history. */
  matchLenLong(s: number, t: number): number {
    return this.matchTo(s, t, this.histLen);
  }

  private matchTo(s: number, t: number, end: number): number {
    const h = this.hist;
    let i = s;
    let j = t;
    while (i < end && h[i] === h[j]) {
      i++;
      j++;
    }
    return i - s;
  }
}
