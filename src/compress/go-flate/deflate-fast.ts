/**
 * The match finder of Go's `compress/flate` at level 1 (`BestSpeed`): a Snappy-like single
 * hash table over 4-byte values, with lookups that skip further ahead the longer nothing
 * matches, and matches that may reach into the previous block.
 *
 * @module
 */
import {
  BASE_MATCH_LENGTH,
  MAX_MATCH_LENGTH,
  MAX_MATCH_OFFSET,
  MAX_STORE_BLOCK_SIZE,
  matchToken,
} from './tokens.js';

const TABLE_BITS = 14;
const TABLE_SIZE = 1 << TABLE_BITS;
const TABLE_SHIFT = 32 - TABLE_BITS;
/** Offsets are rebased before they pass this. */
const BUFFER_RESET = 0x7fffffff - MAX_STORE_BLOCK_SIZE * 2;
const INPUT_MARGIN = 16 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE = 1 + 1 + INPUT_MARGIN;

function load32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

function hash(u: number): number {
  return Math.imul(u, 0x1e35a7bd) >>> TABLE_SHIFT;
}

/** Level 1's encoder: turns blocks of up to 65,535 bytes into tokens. */
export class DeflateFast {
  private readonly tableVal = new Uint32Array(TABLE_SIZE);
  private readonly tableOffset = new Int32Array(TABLE_SIZE);
  private readonly prev = new Uint8Array(MAX_STORE_BLOCK_SIZE);
  private prevLength = 0;
  private cur = MAX_STORE_BLOCK_SIZE;

  /**
   * Tokens of one block.
   * @param dst - receives the tokens (room for `src.length + 1`).
   * @param src - the block.
   * @returns how many tokens were written.
   */
  encode(dst: Uint32Array, src: Uint8Array): number {
    if (this.cur >= BUFFER_RESET) this.shiftOffsets();
    let n = 0;
    if (src.length < MIN_NON_LITERAL_BLOCK_SIZE) {
      this.cur += MAX_STORE_BLOCK_SIZE;
      this.prevLength = 0;
      for (let i = 0; i < src.length; i++) dst[n++] = src[i]!;
      return n;
    }
    const sLimit = src.length - INPUT_MARGIN;
    let nextEmit = 0;
    let s = 0;
    let cv = load32(src, s);
    let nextHash = hash(cv);
    outer: for (;;) {
      let skip = 32;
      let nextS = s;
      let candidateOffset = 0;
      for (;;) {
        s = nextS;
        const step = skip >> 5;
        nextS = s + step;
        skip += step;
        if (nextS > sLimit) break outer;
        candidateOffset = this.tableOffset[nextHash]!;
        const candidateVal = this.tableVal[nextHash]!;
        const now = load32(src, nextS);
        this.tableOffset[nextHash] = s + this.cur;
        this.tableVal[nextHash] = cv;
        nextHash = hash(now);
        const offset = s - (candidateOffset - this.cur);
        if (offset > MAX_MATCH_OFFSET || cv !== candidateVal) {
          cv = now;
          continue;
        }
        break;
      }
      for (let i = nextEmit; i < s; i++) dst[n++] = src[i]!;
      for (;;) {
        // The first 4 bytes match; extend.
        s += 4;
        const t = candidateOffset - this.cur + 4;
        const l = this.matchLen(s, t, src);
        dst[n++] = matchToken(l + 4 - BASE_MATCH_LENGTH, s - t - 1);
        s += l;
        nextEmit = s;
        if (s >= sLimit) break outer;
        // Hash the byte before and the one at s; try the latter at once.
        const before = load32(src, s - 1);
        const hb = hash(before);
        this.tableOffset[hb] = this.cur + s - 1;
        this.tableVal[hb] = before;
        const at = load32(src, s);
        const h = hash(at);
        candidateOffset = this.tableOffset[h]!;
        const candidateVal = this.tableVal[h]!;
        this.tableOffset[h] = this.cur + s;
        this.tableVal[h] = at;
        const offset = s - (candidateOffset - this.cur);
        if (offset > MAX_MATCH_OFFSET || at !== candidateVal) {
          cv = load32(src, s + 1);
          nextHash = hash(cv);
          s++;
          break;
        }
      }
    }
    for (let i = nextEmit; i < src.length; i++) dst[n++] = src[i]!;
    this.cur += src.length;
    this.prev.set(src);
    this.prevLength = src.length;
    return n;
  }

  /** Forgets the previous block (after a block written without this encoder). */
  reset(): void {
    this.prevLength = 0;
    this.cur += MAX_MATCH_OFFSET;
    if (this.cur >= BUFFER_RESET) this.shiftOffsets();
  }

  /** Length of the match at `s` with `t` (negative: in the previous block), beyond 4. */
  private matchLen(s: number, t: number, src: Uint8Array): number {
    const s1 = Math.min(s + MAX_MATCH_LENGTH - 4, src.length);
    if (t >= 0) {
      for (let i = 0; s + i < s1; i++) if (src[s + i] !== src[t + i]) return i;
      return s1 - s;
    }
    const tp = this.prevLength + t;
    if (tp < 0) return 0;
    const n = Math.min(this.prevLength - tp, s1 - s);
    for (let i = 0; i < n; i++) if (src[s + i] !== this.prev[tp + i]) return i;
    if (s + n === s1) return n;
    // The match runs on from the previous block into this one.
    for (let i = 0; s + n + i < s1; i++) if (src[s + n + i] !== src[i]) return i + n;
    return s1 - s;
  }

  private shiftOffsets(): void {
    if (this.prevLength === 0) {
      this.tableVal.fill(0);
      this.tableOffset.fill(0);
    } else {
      for (let i = 0; i < TABLE_SIZE; i++) {
        this.tableOffset[i] = Math.max(0, this.tableOffset[i]! - this.cur + MAX_MATCH_OFFSET + 1);
      }
    }
    this.cur = MAX_MATCH_OFFSET + 1;
  }
}
