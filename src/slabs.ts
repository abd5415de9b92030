/**
 * Small byte arrays packed into shared buffers: each one a view of the next free bytes of a
 * 64 KiB slab, so that making thousands of them (a header per tar entry, an LZ4 block per
 * chunk) does not allocate a buffer each. A buffer of its own cost 2 to 4 µs here; 60,000
 * copies of 2,500 bytes took 121–183 ms as buffers of their own, 41–106 ms in slabs of 64 KiB
 * and 94–191 ms in slabs of 1 MiB, whose fresh pages the kernel must supply (scratch
 * `/tmp/s35/slab.mjs`, 2026-11-29). A slab is let go when every view of it is, so a view kept
 * for long keeps its slab: what is packed here should be short-lived or kept with its
 * neighbours, and what leaves the library as a view of a slab says so.
 *
 * @module
 */

/** Bytes in a slab. */
const SLAB_BYTES = 64 * 1024;
/** Arrays larger than this get a buffer of their own. */
const LARGEST = SLAB_BYTES / 8;

/** The first slab's bytes (two header blocks); each next one is twice as large, up to 64 KiB. */
const FIRST_SLAB_BYTES = 1024;

/**
 * Hands out views of shared slabs. The views are the caller's to read and write, but share a
 * buffer: transferring one's buffer (`postMessage`, `structuredClone` with a transfer list)
 * would empty the others, so copy one first.
 */
export class Slabs {
  #slab: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #used = 0;
  /**
   * The next slab's size: slabs start small, so that an owner that makes a few arrays (a
   * tokenizer of one header) does not allocate 64 KiB.
   */
  #next = FIRST_SLAB_BYTES;

  /**
   * @param n - the length.
   * @returns `n` zero bytes, in a slab when `n` is at most 8 KiB (an eighth of one), each
   *   view starting on an 8-byte boundary as a buffer of its own would. Bound to its slabs, so
   *   it may be passed on (to `concatBytes`, say).
   */
  readonly alloc = (n: number): Uint8Array<ArrayBuffer> => {
    if (n > LARGEST) return new Uint8Array(n);
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(Math.max(this.#next, n));
      this.#next = Math.min(SLAB_BYTES, this.#next * 2);
      this.#used = 0;
    }
    const out = this.#slab.subarray(this.#used, this.#used + n);
    this.#used += (n + 7) & ~7;
    return out;
  };

  /**
   * @param bytes - the bytes.
   * @returns a copy of `bytes` (see {@link Slabs.alloc}).
   */
  copy(bytes: Uint8Array): Uint8Array {
    const out = this.alloc(bytes.length);
    out.set(bytes);
    return out;
  }
}
