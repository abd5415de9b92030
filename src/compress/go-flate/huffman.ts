/**
 * Huffman code construction as Go's `compress/flate` does it. Deflate fixes only the shape of
 * a code (canonical, at most 15 bits), not which lengths a symbol gets: encoders that break
 * ties differently write different (equally valid) blocks. To give Go's bytes, lengths come
 * from the same length-limited algorithm (a boundary package-merge over symbols sorted by
 * frequency, then symbol), and codes of one length go to symbols in ascending order.
 *
 * @module
 */
import { MAX_NUM_LIT } from './tokens.js';

const MAX_INT32 = 0x7fffffff;
/** `maxBits` must stay below this. */
const MAX_BITS_LIMIT = 16;

/** A canonical Huffman code over `size` symbols: each symbol's bit-reversed code and length. */
export class HuffmanEncoder {
  /** Each symbol's code, bit-reversed, ready to write least significant bit first. */
  readonly code: Uint16Array;
  /** Each symbol's code length in bits; 0 for a symbol with no code. */
  readonly len: Uint8Array;
  /** Packed `freq * 65536 + symbol` of the symbols in use, sorted when generating. */
  private readonly keys = new Float64Array(MAX_NUM_LIT + 1);
  private readonly freqs = new Int32Array(MAX_NUM_LIT + 1);
  private readonly symbols = new Uint16Array(MAX_NUM_LIT + 1);
  private readonly bitCount = new Int32Array(17);

  /** @param size - the number of symbols. */
  constructor(size: number) {
    this.code = new Uint16Array(size);
    this.len = new Uint8Array(size);
  }

  /**
   * Bits that symbols with these frequencies take under this code.
   * @param freq - frequency of each symbol.
   * @returns the total bit count.
   */
  bitLength(freq: Int32Array): number {
    let total = 0;
    for (let i = 0; i < freq.length; i++) if (freq[i] !== 0) total += freq[i]! * this.len[i]!;
    return total;
  }

  /**
   * Builds the code for these frequencies. Symbols of frequency 0 get no code.
   * @param freq - frequency of each symbol (one entry per symbol of the code).
   * @param maxBits - the longest code allowed (below 16).
   */
  generate(freq: Int32Array, maxBits: number): void {
    let count = 0;
    for (let i = 0; i < freq.length; i++) {
      if (freq[i] !== 0) {
        this.keys[count] = freq[i]! * 65536 + i;
        this.symbols[count] = i;
        count++;
      } else {
        this.len[i] = 0;
      }
    }
    if (count <= 2) {
      // One bit each, in symbol order.
      for (let i = 0; i < count; i++) {
        this.code[this.symbols[i]!] = i;
        this.len[this.symbols[i]!] = 1;
      }
      return;
    }
    const sorted = this.keys.subarray(0, count).sort();
    for (let i = 0; i < count; i++) {
      this.freqs[i] = Math.floor(sorted[i]! / 65536);
      this.symbols[i] = sorted[i]! % 65536;
    }
    const limit = Math.min(maxBits, count - 1);
    this.bitCounts(count, limit);
    this.assign(limit, count);
  }

  /**
   * Sets `bitCount[b]` to how many symbols get a code of `b` bits, for symbols sorted by
   * frequency in `freqs[0..n)`: the boundary package-merge, level by level.
   */
  private bitCounts(n: number, maxBits: number): void {
    if (maxBits >= MAX_BITS_LIMIT) throw new RangeError('maxBits too large');
    const f = this.freqs;
    f[n] = MAX_INT32;
    const lastFreq = new Float64Array(MAX_BITS_LIMIT + 1);
    const nextCharFreq = new Float64Array(MAX_BITS_LIMIT + 1);
    const nextPairFreq = new Float64Array(MAX_BITS_LIMIT + 1);
    const needed = new Int32Array(MAX_BITS_LIMIT + 1);
    // leafCounts[level][j]: leaves counted at level `level` in the chain ending at depth j.
    const leaf = new Int32Array((MAX_BITS_LIMIT + 1) * (MAX_BITS_LIMIT + 1));
    const row = MAX_BITS_LIMIT + 1;
    for (let level = 1; level <= maxBits; level++) {
      lastFreq[level] = f[1]!;
      nextCharFreq[level] = f[2]!;
      nextPairFreq[level] = level === 1 ? MAX_INT32 : f[0]! + f[1]!;
      leaf[level * row + level] = 2;
    }
    needed[maxBits] = 2 * n - 4;
    let level = maxBits;
    for (;;) {
      if (nextPairFreq[level] === MAX_INT32 && nextCharFreq[level] === MAX_INT32) {
        // This level has nothing left to take: it needs no more.
        needed[level] = 0;
        nextPairFreq[level + 1] = MAX_INT32;
        level++;
        continue;
      }
      const prevFreq = lastFreq[level]!;
      if (nextCharFreq[level]! < nextPairFreq[level]!) {
        const leaves = leaf[level * row + level]! + 1;
        lastFreq[level] = nextCharFreq[level]!;
        leaf[level * row + level] = leaves;
        nextCharFreq[level] = f[leaves]!;
      } else {
        lastFreq[level] = nextPairFreq[level]!;
        leaf.copyWithin(level * row, (level - 1) * row, (level - 1) * row + level);
        needed[level - 1] = 2;
      }
      needed[level]!--;
      if (needed[level] === 0) {
        if (level === maxBits) break;
        nextPairFreq[level + 1] = prevFreq + lastFreq[level]!;
        level++;
      } else {
        while (needed[level - 1]! > 0) level--;
      }
    }
    if (leaf[maxBits * row + maxBits] !== n) throw new Error('Huffman leaf count mismatch');
    let bits = 1;
    for (let l = maxBits; l > 0; l--) {
      this.bitCount[bits] = leaf[maxBits * row + l]! - leaf[maxBits * row + l - 1]!;
      bits++;
    }
  }

  /** Gives the most frequent symbols the shortest codes, in symbol order within a length. */
  private assign(maxBits: number, n: number): void {
    let code = 0;
    let end = n;
    for (let bits = 0; bits <= maxBits; bits++) {
      code = (code << 1) & 0xffff;
      const count = bits === 0 ? 0 : this.bitCount[bits]!;
      if (count === 0) continue;
      const chunk = this.symbols.subarray(end - count, end).sort();
      for (let i = 0; i < chunk.length; i++) {
        this.code[chunk[i]!] = reverseBits(code, bits);
        this.len[chunk[i]!] = bits;
        code++;
      }
      end -= count;
    }
  }
}

/**
 * The low `length` bits of `value`, in reverse order.
 * @param value - the code.
 * @param length - its length in bits (1-16).
 * @returns the reversed code.
 */
export function reverseBits(value: number, length: number): number {
  let out = 0;
  for (let i = 0; i < length; i++) out |= ((value >>> i) & 1) << (length - 1 - i);
  return out;
}

/** Deflate's fixed literal/length code (RFC 1951 §3.2.6). */
export const FIXED_LITERALS: HuffmanEncoder = (() => {
  const h = new HuffmanEncoder(MAX_NUM_LIT);
  for (let ch = 0; ch < MAX_NUM_LIT; ch++) {
    const [bits, size] =
      ch < 144
        ? [ch + 48, 8]
        : ch < 256
          ? [ch + 400 - 144, 9]
          : ch < 280
            ? [ch - 256, 7]
            : [ch + 192 - 280, 8];
    h.code[ch] = reverseBits(bits, size);
    h.len[ch] = size;
  }
  return h;
})();

/** Deflate's fixed distance code: 5 bits each. */
export const FIXED_OFFSETS: HuffmanEncoder = (() => {
  const h = new HuffmanEncoder(30);
  for (let ch = 0; ch < 30; ch++) {
    h.code[ch] = reverseBits(ch, 5);
    h.len[ch] = 5;
  }
  return h;
})();

/** The distance code of a block without matches: one code, for distance code 0. */
export const HUFF_OFFSETS: HuffmanEncoder = (() => {
  const h = new HuffmanEncoder(30);
  const freq = new Int32Array(30);
  freq[0] = 1;
  h.generate(freq, 15);
  return h;
})();
