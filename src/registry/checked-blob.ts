/**
 * A blob served as it is made: its bytes pass through while they are hashed and counted, and
 * the stream errors, instead of ending, when they are not the blob promised. The piece that
 * holds the last byte is passed on only once the digest is known to match: so a client never
 * sees a complete response of the wrong bytes (a body framed by its length looks complete once
 * its last byte has gone), it sees a broken one.
 *
 * @module
 */
import { OciDigestError } from '../errors.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';

/**
 * Checks what goes through against a digest and size.
 * @param digest - the digest promised.
 * @param size - the size promised.
 * @param hash - the hashing.
 * @returns the transform; it errors with {@link OciDigestError} on more bytes than `size`,
 * or at the end on fewer or on another digest.
 */
export function checkedBlob(
  digest: string,
  size: number,
  hash: HashProvider,
): TransformStream<Uint8Array, Uint8Array> {
  let h: IncrementalHash;
  let seen = 0;
  /** The piece with the last byte, held until the digest is checked. */
  let last: Uint8Array | undefined;
  return new TransformStream({
    async start() {
      h = await hash.create();
    },
    async transform(chunk, controller) {
      seen += chunk.length;
      if (seen > size) throw new OciDigestError(digest, `made more than its ${size} bytes`);
      // The bytes are handed on only once hashed: the consumer may reuse them.
      await h.update(chunk);
      if (seen === size) last = chunk;
      else controller.enqueue(chunk);
    },
    async flush(controller) {
      if (seen !== size) throw new OciDigestError(digest, `made ${seen} bytes, not ${size}`);
      const actual = formatDigest(await h.digest());
      if (actual !== digest) throw new OciDigestError(digest, `made bytes that hash to ${actual}`);
      if (last) controller.enqueue(last);
    },
  });
}
