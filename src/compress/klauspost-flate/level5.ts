/**
 * klauspost/compress's deflate level 5 (`fastEncL5`, v1.15), the level its `DefaultCompression`
 * means, so pgzip's default: a table of 4-byte hashes and a table of 7-byte hashes that keeps
 * two candidates per entry, a skip that grows with the literals since the last match, and a
 * check whether the end of each short match starts a longer one. Every table write and every
 * comparison is in klauspost's order, since its output depends on them.
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
const SKIP_LOG = 6;

/** The level 5 encoder. */
export class FastEncoderL5 extends TwoTableEncoder {
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
    let nextEmit = s;
    const sLimit = this.histLen - INPUT_MARGIN;
    let cvLo = load32(h, s);
    let cvHi = load32(h, s + 4);
    for (;;) {
      let nextS = s;
      let l = 0;
      let t = 0;
      const cur = this.cur;
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
          let t2 = nCur - cur;
          if (nextS - t2 < MAX_MATCH_OFFSET) {
            if (load32(h, t2) === nextLo) {
              const ml = this.matchLen(nextS + 4, t2 + 4) + 4;
              if (ml > l) {
                t = t2;
                s = nextS;
                l = ml;
                break;
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

      // A longer match may start where this one ends, give or take two bytes.
      const sAt = s + l;
      if (l < 30 && sAt < sLimit) {
        const eLong = bCur[hash7(load32(h, sAt), load32(h, sAt + 4))]!;
        const t2 = eLong - cur - l + 2;
        const s2 = s + 2;
        const off = s2 - t2;
        if (t2 >= 0 && off < MAX_MATCH_OFFSET && off > 0) {
          const l2 = this.matchLenLong(s2, t2);
          if (l2 > l) {
            t = t2;
            l = l2;
            s = s2;
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
      s += l;
      nextEmit = s;
      if (nextS >= s) s = nextS + 1;
      if (s >= sLimit) {
        this.emitRemainder(dst, nextEmit);
        return;
      }

      // Store every third hash in between.
      let i = s - l + 1;
      if (i < s - 1) {
        let lo = load32(h, i);
        let hi = load32(h, i + 4);
        let o = i + cur;
        table[hash4(lo)] = o;
        this.pushLong(hash7(lo, hi), o);
        lo = (lo >>> 8) | (hi << 24);
        hi >>>= 8;
        o++;
        this.pushLong(hash7(lo, hi), o);
        lo = (lo >>> 8) | (hi << 24);
        hi >>>= 8;
        o++;
        table[hash4(lo >>> 0)] = o;
        for (i += 4; i < s - 1; i += 3) {
          const wlo = load32(h, i);
          const whi = load32(h, i + 4);
          this.pushLong(hash7(wlo, whi), i + cur);
          table[hash4(((wlo >>> 8) | (whi << 24)) >>> 0)] = i + cur + 1;
        }
      }

      // Update the tables at s-1 and s before going on at s.
      const xLo = load32(h, s - 1);
      const xHi = load32(h, s + 3);
      const o = cur + s - 1;
      table[hash4(xLo)] = o;
      this.pushLong(hash7(xLo, xHi), o);
      cvLo = ((xLo >>> 8) | (xHi << 24)) >>> 0;
      cvHi = xHi >>> 8;
    }
  }
}
