/**
 * How often a chunked index may name a chunk it named before: the rule the reader enforces
 * (a root whose references repeat one small chunk named a flat index of a gigabyte from a diff
 * of 178 KB, and kept `apply` fetching for 493 s) and the writer checks, so that no conversion
 * writes a root its own readers refuse. Records rarely repeat (they name paths), but a layer
 * whose entries carry the same large metadata over and over (a big xattr on every file, one
 * file appended many times) cuts into the same index chunks again and again. Pure.
 *
 * @module
 */
import type { ChunkRef } from '../format/records.js';

/** References to chunks named before that a flat index may make. */
export const MAX_REPEATS = 4096;
/** Bytes of those references. */
export const MAX_REPEAT_BYTES = 16 * 1024 * 1024;
/** Largest bitmap of {@link repeatCheck}: 2^25 bits, 4 MiB. */
const MAX_FILTER_BITS = 2 ** 25;

/**
 * A check of a flat index's references, in order: says what is wrong once they repeat more
 * than {@link MAX_REPEATS} times or {@link MAX_REPEAT_BYTES} bytes.
 */
export type RepeatCheck = (ref: ChunkRef) => string | undefined;

/**
 * Makes a {@link RepeatCheck}. Whether a digest was given before is told by three bits of a
 * bitmap per digest, from its first three words (digests hash content, so distinct chunks set
 * bits at random). The bitmap has 64 bits per chunk the flat index can hold when every chunk
 * but the last is at least `minChunk` bytes (within {@link MAX_FILTER_BITS}), so a distinct
 * chunk is flagged with a chance of about 1 in 10,000 (by arithmetic), well within
 * {@link MAX_REPEATS}; its memory is bounded, where a set of the digests grew with the index
 * (a hostile one of 64-byte chunks would have held 16 million of them). The same references
 * always get the same answer: the writer's check is the reader's.
 * @param flatSize - bytes of the flat index.
 * @param minChunk - the smallest chunk its chunker cuts but the last.
 */
export function repeatCheck(flatSize: number, minChunk: number): RepeatCheck {
  let bits = 4096;
  while (bits < MAX_FILTER_BITS && bits < 64 * (flatSize / minChunk + 1)) bits *= 2;
  const map = new Uint8Array(bits >>> 3);
  const mask = bits - 1;
  let repeats = 0;
  let repeatBytes = 0;
  return (ref) => {
    const words = new DataView(ref.digest.buffer, ref.digest.byteOffset, 12);
    let seen = true;
    for (let i = 0; i < 3; i++) {
      const bit = words.getUint32(i * 4) & mask;
      const at = bit >>> 3;
      const flag = 1 << (bit & 7);
      if ((map[at]! & flag) === 0) {
        seen = false;
        map[at]! |= flag;
      }
    }
    if (!seen) return undefined;
    repeats++;
    repeatBytes += ref.length;
    return repeats > MAX_REPEATS || repeatBytes > MAX_REPEAT_BYTES
      ? `the index repeats its chunks: ${repeats} references (${repeatBytes} bytes) to chunks named before`
      : undefined;
  };
}
