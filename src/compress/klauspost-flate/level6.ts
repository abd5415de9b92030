/**
 * klauspost/compress's deflate level 6 (`fastEncL6`): level 5's two tables, with a skip that
 * grows more slowly with the literals since the last match, a check for the last match's
 * distance one byte on, both long candidates tried where a match may end, and every other
 * position inside a match hashed. Go 1.27's `compress/flate`, a port of klauspost's, uses it
 * for its default level. Every table write and every comparison is in klauspost's order,
 * since its output depends on them.
 *
 * @module
 */
import { MAX_MATCH_LENGTH, MAX_MATCH_OFFSET } from '../go-flate/tokens.js';
import { hash4, hash7, load32 } from './fast-gen.js';
import type { FastTokens } from './tokens.js';
import { TwoTableEncoder } from './two-tables.js';

/** Bytes at the end of a block that are never searched. */
const INPUT_MARGIN = 12 - 1;
/** Blocks shorter than this are left to be written as literals. */
const MIN_NON_LITERAL_BLOCK_SIZE = 1 + 1 + INPUT_MARGIN;
const SKIP_LOG = 7;

/** The level 6 encoder. */
export class FastEncoderL6 extends TwoTableEncoder {
  /** Encodes `src` (at most 65,535 bytes) into `dst`, matching against the history too. */
  override encode(dst: FastTokens, src: Uint8Array): void {
    this.protectCur();
    let s = this.addBlock(src);
    if (src.length < MIN_NON_LITERAL_BLOCK_SIZE) {
      dst.n = src.length;
      return;
    }
    const h = this.hist;
    const table = this.table;
    const bCur = this.bCur;
    const bPrev = this.bPrev;
    const cur = this.cur;
    let nextEmit = s;
    const sLimit = this.histLen - INPUT_MARGIN;
    let cvLo = load32(h, s);
    let cvHi = load32(h, s + 4);
    // The distance of the last match.
    let repeat = 1;
    for (;;) {
      let nextS = s;
      let l = 0;
      let t = 0;
      for (;;) {
        let nextHashS = hash4(cvLo);
        let nextHashL = hash7(cvLo, cvHi);
        s = nextS;
        nextS = s + 1 + ((s - nextEmit) >> SKIP_LOG);
        if (nextS > sLimit) {
          this.emitRemainder(dst, nextEmit);
          return;
        }
        const sCandidate = table[nextHashS]!;
        const lCandCur = bCur[nextHashL]!;
        const lCandPrev = bPrev[nextHashL]!;
        const nextLo = load32(h, nextS);
        const nextHi = load32(h, nextS + 4);
        table[nextHashS] = s + cur;
        bPrev[nextHashL] = bCur[nextHashL]!;
        bCur[nextHashL] = s + cur;
        nextHashS = hash4(nextLo);
        nextHashL = hash7(nextLo, nextHi);

        t = lCandCur - cur;
        if (s - t < MAX_MATCH_OFFSET) {
          if (cvLo === load32(h, t)) {
            table[nextHashS] = nextS + cur;
            this.pushLong(nextHashL, nextS + cur);
            const t2 = lCandPrev - cur;
            if (s - t2 < MAX_MATCH_OFFSET && cvLo === load32(h, t2)) {
              l = this.matchLen(s + 4, t + 4) + 4;
              const ml1 = this.matchLen(s + 4, t2 + 4) + 4;
              if (ml1 > l) {
                t = t2;
                l = ml1;
              }
            }
            break;
          }
          t = lCandPrev - cur;
          if (s - t < MAX_MATCH_OFFSET && cvLo === load32(h, t)) {
            table[nextHashS] = nextS + cur;
            this.pushLong(nextHashL, nextS + cur);
            break;
          }
        }

        t = sCandidate - cur;
        if (s - t < MAX_MATCH_OFFSET && cvLo === load32(h, t)) {
          l = this.matchLen(s + 4, t + 4) + 4;
          const nCur = bCur[nextHashL]!;
          const nPrev = bPrev[nextHashL]!;
          table[nextHashS] = nextS + cur;
          this.pushLong(nextHashL, nextS + cur);

          // The last match's distance, one byte on.
          let t2 = s - repeat + 1;
          if (load32(h, t2) === ((cvLo >>> 8) | (cvHi << 24)) >>> 0) {
            const ml = this.matchLen(s + 5, t2 + 4) + 4;
            if (ml > l) {
              t = t2;
              l = ml;
              s += 1;
              break;
            }
          }
          t2 = nCur - cur;
          if (nextS - t2 < MAX_MATCH_OFFSET) {
            if (load32(h, t2) === nextLo) {
              const ml = this.matchLen(nextS + 4, t2 + 4) + 4;
              if (ml > l) {
                t = t2;
                s = nextS;
                l = ml;
              }
            }
            t2 = nPrev - cur;
            if (nextS - t2 < MAX_MATCH_OFFSET && load32(h, t2) === nextLo) {
              const ml = this.matchLen(nextS + 4, t2 + 4) + 4;
              if (ml > l) {
                t = t2;
                s = nextS;
                l = ml;
                break;
              }
            }
          }
          break;
        }
        cvLo = nextLo;
        cvHi = nextHi;
      }

      if (l === 0) {
        l = this.matchLenLong(s + 4, t + 4) + 4;
      } else if (l === MAX_MATCH_LENGTH) {
        l += this.matchLenLong(s + l, t + l);
      }

      // A longer match may start where this one ends, give or take two bytes: both long
      // candidates there are tried.
      const sAt = s + l;
      if (sAt < sLimit) {
        const e = hash7(load32(h, sAt), load32(h, sAt + 4));
        const eCur = bCur[e]!;
        const ePrev = bPrev[e]!;
        const s2 = s + 2;
        let t2 = eCur - cur - l + 2;
        if (s2 - t2 < MAX_MATCH_OFFSET) {
          if (s2 - t2 > 0 && t2 >= 0) {
            const l2 = this.matchLenLong(s2, t2);
            if (l2 > l) {
              t = t2;
              l = l2;
              s = s2;
            }
          }
          t2 = ePrev - cur - l + 2;
          const off = s2 - t2;
          if (off > 0 && off < MAX_MATCH_OFFSET && t2 >= 0) {
            const l2 = this.matchLenLong(s2, t2);
            if (l2 > l) {
              t = t2;
              l = l2;
              s = s2;
            }
          }
        }
      }

      // Extend backwards.
      while (t > 0 && s > nextEmit && h[t - 1] === h[s - 1]) {
        s--;
        t--;
        l++;
      }
      if (nextEmit < s) dst.addLiterals(h, nextEmit, s);
      dst.addMatchLong(l, s - t - 1);
      repeat = s - t;
      s += l;
      nextEmit = s;
      if (nextS >= s) s = nextS + 1;

      if (s >= sLimit) {
        // Index what is left, for the next block.
        for (let i = nextS + 1; i < this.histLen - 8; i += 2) {
          table[hash4(load32(h, i))] = i + cur;
          this.pushLong(hash7(load32(h, i), load32(h, i + 4)), i + cur);
        }
        this.emitRemainder(dst, nextEmit);
        return;
      }

      // Every other position inside the match: its 4- and 7-byte hashes, and the 7-byte hash
      // of the one after.
      for (let i = nextS + 1; i < s - 1; i += 2) {
        const lo = load32(h, i);
        const hi = load32(h, i + 4);
        const e1 = hash7(lo, hi);
        const e2 = hash7(((lo >>> 8) | (hi << 24)) >>> 0, hi >>> 8);
        table[hash4(lo)] = i + cur;
        this.pushLong(e1, i + cur);
        this.pushLong(e2, i + cur + 1);
      }

      cvLo = load32(h, s);
      cvHi = load32(h, s + 4);
    }
  }
}
