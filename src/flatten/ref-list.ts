/**
 * A compact, append-only list of chunk references: the digests packed into one byte array,
 * the lengths in one array. Holding a surviving file's references costs about 40 bytes each,
 * and keeps no view into the index frame they were decoded from. Pure.
 *
 * @module
 */
import type { ChunkRef } from '../format/records.js';

const DIGEST_BYTES = 32;

/** Chunk references of one file body, in order. */
export class RefList {
  private digests = new Uint8Array(0);
  private readonly lengths: number[] = [];
  /** Sum of the lengths. */
  bytes = 0;

  /** Number of references. */
  get count(): number {
    return this.lengths.length;
  }

  /**
   * Appends references, copying their digests.
   * @param refs - references to append (digests of 32 bytes, as the index decoder checks).
   */
  push(refs: readonly ChunkRef[]): void {
    const need = (this.lengths.length + refs.length) * DIGEST_BYTES;
    if (need > this.digests.length) {
      const grown = new Uint8Array(Math.max(need, 2 * this.digests.length));
      grown.set(this.digests);
      this.digests = grown;
    }
    for (const ref of refs) {
      this.digests.set(ref.digest, this.lengths.length * DIGEST_BYTES);
      this.lengths.push(ref.length);
      this.bytes += ref.length;
    }
  }

  /** Drops spare capacity, once the list is complete. */
  trim(): void {
    const used = this.lengths.length * DIGEST_BYTES;
    if (this.digests.length > used) this.digests = this.digests.slice(0, used);
  }

  /**
   * The reference at `i`.
   * @param i - index, `0 <= i < count`.
   * @returns the reference; its digest is a view into this list.
   */
  at(i: number): ChunkRef {
    return {
      digest: this.digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES),
      length: this.lengths[i]!,
    };
  }
}
