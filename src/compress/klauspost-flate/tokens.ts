/**
 * The token buffer of klauspost/compress's fast deflate levels: tokens packed as the
 * Go-compatible encoder packs them (see `../go-flate/tokens.ts`), with the symbol histograms
 * kept as tokens are added, and the entropy estimate its block writer decides with.
 *
 * @module
 */
import {
  BASE_MATCH_LENGTH,
  END_BLOCK,
  LENGTH_CODE,
  LENGTH_EXTRA_BITS,
  LENGTH_SHIFT,
  MATCH_TYPE,
  MAX_MATCH_LENGTH,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_CODE,
  OFFSET_EXTRA_BITS,
} from '../go-flate/tokens.js';

const f32 = Math.fround;
const floatView = new Float32Array(1);
const intView = new Int32Array(floatView.buffer);
/** Float32 constants of the log2 approximation. */
const C1 = f32(-0.34484843);
const C2 = f32(2.02466578);
const C3 = f32(0.67487759);

/**
 * log2 of a positive float32 as klauspost's `mFastLog2` approximates it (a quadratic on the
 * mantissa), in float32 arithmetic step by step, as Go computes it on amd64 (no fused
 * multiply-add).
 */
function fastLog2(val: number): number {
  floatView[0] = val;
  let ux = intView[0]!;
  const log2 = f32(((ux >> 23) & 255) - 128);
  ux &= -0x7f800001;
  ux += 127 << 23;
  intView[0] = ux;
  const uval = floatView[0]!;
  return f32(log2 + f32(f32(f32(f32(C1 * uval) + C2) * uval) - C3));
}

/** `v` held to 1..15 bits. */
function atLeastOne(v: number): number {
  return Math.min(Math.max(v, 1), 15);
}

/** Tokens of one block of at most 65,535 input bytes, and their histograms. */
export class FastTokens {
  /** The tokens; room for one per input byte and an end of block. */
  readonly tokens = new Uint32Array(MAX_STORE_BLOCK_SIZE + 1);
  /** How many tokens there are (a block too short to search sets it to its length alone). */
  n = 0;
  /** How often each literal byte occurs. */
  readonly litHist = new Int32Array(256);
  /** How often each symbol from 256 (end of block, then lengths) occurs. */
  readonly extraHist = new Int32Array(32);
  /** How often each distance code occurs. */
  readonly offHist = new Int32Array(32);

  /** Empties the buffer. */
  reset(): void {
    if (this.n === 0) return;
    this.n = 0;
    this.litHist.fill(0);
    this.extraHist.fill(0);
    this.offHist.fill(0);
  }

  /** Adds the bytes `src[from..to)` as literals. */
  addLiterals(src: Uint8Array, from: number, to: number): void {
    const tokens = this.tokens;
    const hist = this.litHist;
    let n = this.n;
    for (let i = from; i < to; i++) {
      const v = src[i]!;
      tokens[n++] = v;
      hist[v]!++;
    }
    this.n = n;
  }

  /**
   * Adds a match of `length` bytes (any length from 4; longer than 258 becomes several) at
   * distance `offset + 1`.
   */
  addMatchLong(length: number, offset: number): void {
    const oc = OFFSET_CODE[offset]!;
    let rest = length;
    while (rest > 0) {
      let xl = rest;
      if (xl > MAX_MATCH_LENGTH) {
        xl =
          xl > MAX_MATCH_LENGTH + BASE_MATCH_LENGTH
            ? MAX_MATCH_LENGTH
            : MAX_MATCH_LENGTH - BASE_MATCH_LENGTH;
      }
      rest -= xl;
      xl -= BASE_MATCH_LENGTH;
      this.extraHist[LENGTH_CODE[xl]! + 1]!++;
      this.offHist[oc]!++;
      this.tokens[this.n++] = MATCH_TYPE + (xl << LENGTH_SHIFT) + offset;
    }
  }

  /** Adds the end-of-block symbol. */
  addEOB(): void {
    this.tokens[this.n++] = END_BLOCK;
    this.extraHist[0]!++;
  }

  /**
   * The block's size in bits as klauspost estimates it: each symbol's Shannon cost (held to
   * 1-15 bits) in float32 arithmetic, plus the extra bits of lengths and distances.
   */
  estimatedBits(): number {
    let shannon = 0;
    let bits = 0;
    let nMatches = 0;
    const total = this.n;
    if (total > 0) {
      const invTotal = f32(1 / total);
      for (let i = 0; i < 256; i++) {
        const v = this.litHist[i]!;
        if (v > 0) shannon = f32(shannon + f32(atLeastOne(-fastLog2(f32(v * invTotal))) * v));
      }
      shannon = f32(shannon + 15);
      for (let i = 0; i < 29; i++) {
        const v = this.extraHist[i + 1]!;
        if (v > 0) {
          shannon = f32(shannon + f32(atLeastOne(-fastLog2(f32(v * invTotal))) * v));
          bits += LENGTH_EXTRA_BITS[i]! * v;
          nMatches += v;
        }
      }
    }
    if (nMatches > 0) {
      const invTotal = f32(1 / nMatches);
      for (let i = 0; i < 30; i++) {
        const v = this.offHist[i]!;
        if (v > 0) {
          shannon = f32(shannon + f32(atLeastOne(-fastLog2(f32(v * invTotal))) * v));
          bits += OFFSET_EXTRA_BITS[i]! * v;
        }
      }
    }
    return Math.trunc(shannon) + bits;
  }
}
