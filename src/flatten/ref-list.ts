/**
 * A compact, append-only list of chunk references, packed into a one-byte string: each
 * reference's digest (32 characters, one a byte), then its length (8 characters: the bytes of
 * a float64). A small string costs its length and 16 bytes; a small typed array costs about 240
 * bytes whatever its length (view, buffer and backing store), and most files have one
 * reference. The list keeps no view into the index frame its references were decoded from.
 * Pure.
 *
 * @module
 */
import type { ChunkRef } from '../format/records.js';

const DIGEST_BYTES = 32;
/** Characters of a reference: its digest's bytes, then its length's. */
const REF_CHARS = DIGEST_BYTES + 8;
/** Scratch for a length's bytes. */
const length64 = new Float64Array(1);
const lengthBytes = new Uint8Array(length64.buffer);

/**
 * References a string holds: 2.5 MiB of characters, far below the longest string a runtime
 * allows (about 2^29 characters in V8), whatever a hostile index lists for one file.
 */
const PIECE = 1 << 16;

/** Chunk references of one file body, in order. */
export class RefList {
  /** The first {@link PIECE} references. */
  private head = '';
  /** Each further {@link PIECE} references. */
  private tail: string[] | undefined;
  private n = 0;

  /** Number of references. */
  get count(): number {
    return this.n;
  }

  /**
   * Appends references, copying their digests.
   * @param refs - references to append (digests of 32 bytes, as the index decoder checks).
   */
  push(refs: readonly ChunkRef[]): void {
    for (let i = 0; i < refs.length; ) {
      const piece = Math.floor(this.n / PIECE);
      const end = Math.min(refs.length, i + PIECE - (this.n % PIECE));
      let packed = '';
      for (; i < end; i++) {
        const ref = refs[i]!;
        length64[0] = ref.length;
        packed += String.fromCharCode(...ref.digest, ...lengthBytes);
        this.n++;
      }
      if (piece === 0) {
        this.head += packed;
      } else {
        this.tail ??= [];
        this.tail[piece - 1] = (this.tail[piece - 1] ?? '') + packed;
      }
    }
  }

  /** Makes each piece one flat string, once the list is complete (appends leave chains). */
  trim(): void {
    // Reading a character flattens a concatenation in place.
    for (const s of [this.head, ...(this.tail ?? [])]) if (s.length > 0) s.charCodeAt(0);
  }

  /**
   * The reference at `i`.
   * @param i - index, `0 <= i < count`.
   * @returns the reference, with a digest of its own.
   */
  at(i: number): ChunkRef {
    const piece = Math.floor(i / PIECE);
    const s = piece === 0 ? this.head : this.tail![piece - 1]!;
    const at = (i % PIECE) * REF_CHARS;
    const digest = new Uint8Array(DIGEST_BYTES);
    for (let k = 0; k < DIGEST_BYTES; k++) digest[k] = s.charCodeAt(at + k);
    for (let k = 0; k < 8; k++) lengthBytes[k] = s.charCodeAt(at + DIGEST_BYTES + k);
    return { digest, length: length64[0]! };
  }
}
