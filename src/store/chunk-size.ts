/**
 * The size limit every store puts on a chunk, checked before anything is written: a larger
 * chunk would be written but could never be read back (readers refuse it), and in a pack
 * store its index entry would make every later open of the store fail.
 *
 * @module
 */
import { MAX_CHUNK_MAX } from '../cdc/params.js';
import { UsageError } from '../errors.js';

/**
 * Refuses a chunk larger than any chunker cuts (`MAX_CHUNK_MAX`, 16 MiB).
 * @param digest - the chunk's digest, for the message.
 * @param length - its size in bytes.
 * @throws {@link UsageError} when it is larger.
 */
export function checkChunkSize(digest: string, length: number): void {
  if (length > MAX_CHUNK_MAX) {
    throw new UsageError(
      `chunk ${digest} of ${length} bytes exceeds the ${MAX_CHUNK_MAX}-byte limit`,
    );
  }
}
