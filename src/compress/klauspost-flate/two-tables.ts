/**
 * What klauspost/compress's deflate levels 5 and 6 share: a table of 4-byte hashes and a
 * table of 7-byte hashes that keeps two candidates per entry, both holding positions plus
 * `cur`, and their rebasing when `cur` nears 2^31.
 *
 * @module
 */
import { MAX_MATCH_OFFSET } from '../go-flate/tokens.js';
import { BUFFER_RESET, FastGen, TABLE_SIZE } from './fast-gen.js';
import type { FastTokens } from './tokens.js';

/** The tables of levels 5 and 6. */
export abstract class TwoTableEncoder extends FastGen {
  /** Short-hash table: position + cur of the latest occurrence. */
  protected readonly table = new Int32Array(TABLE_SIZE);
  /** Long-hash table: the latest occurrence... */
  protected readonly bCur = new Int32Array(TABLE_SIZE);
  /** ...and the one before it. */
  protected readonly bPrev = new Int32Array(TABLE_SIZE);

  /**
   * Encodes `src` (at most 65,535 bytes) into `dst`, matching against the history too.
   * Sets `dst.n` to the length of a block too short to search, without tokens.
   */
  abstract encode(dst: FastTokens, src: Uint8Array): void;

  /** Gives the long-hash entry `h` a new latest occurrence. */
  protected pushLong(h: number, offset: number): void {
    this.bPrev[h] = this.bCur[h]!;
    this.bCur[h] = offset;
  }

  /** Adds the bytes after the last match as literals, unless the block has no tokens. */
  protected emitRemainder(dst: FastTokens, nextEmit: number): void {
    if (nextEmit < this.histLen && dst.n !== 0) dst.addLiterals(this.hist, nextEmit, this.histLen);
  }

  /** Keeps `cur` from overflowing: rebases the tables' entries, or clears them. */
  protected protectCur(): void {
    if (this.cur < BUFFER_RESET) return;
    if (this.histLen === 0) {
      this.table.fill(0);
      this.bCur.fill(0);
      this.bPrev.fill(0);
      this.cur = MAX_MATCH_OFFSET;
      return;
    }
    const minOff = this.cur + this.histLen - MAX_MATCH_OFFSET;
    const rebase = (v: number) => (v <= minOff ? 0 : v - this.cur + MAX_MATCH_OFFSET);
    for (let i = 0; i < TABLE_SIZE; i++) {
      this.table[i] = rebase(this.table[i]!);
      const c = this.bCur[i]!;
      if (c <= minOff) {
        this.bCur[i] = 0;
        this.bPrev[i] = 0;
      } else {
        this.bCur[i] = c - this.cur + MAX_MATCH_OFFSET;
        this.bPrev[i] = rebase(this.bPrev[i]!);
      }
    }
    this.cur = MAX_MATCH_OFFSET;
  }
}
