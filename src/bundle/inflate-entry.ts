/**
 * Inflating a zip entry's deflate data to exactly the size the central directory declares.
 *
 * @module
 */
import { Inflate } from 'pako';
import { CompressionError } from '../errors.js';

/** Bytes pako hands over at a time, at most (its own default). */
const PIECE_BYTES = 65_536;

/** What pako's `Inflate` has that its type declarations leave out. */
interface InflateState {
  /** True once the deflate stream's last block has ended (or inflating failed). */
  ended: boolean;
  /** The zlib stream: `avail_in` is how many of the bytes pushed were not consumed. */
  strm: { avail_in: number };
}

/** Thrown from pako's `onData` to stop it at once; never leaves {@link inflateEntry}. */
class PastDeclared extends Error {}

/**
 * Inflates raw deflate data that must be one whole deflate stream holding exactly `size`
 * bytes, and nothing else. pako writes into a buffer of `size` bytes and is stopped as soon as
 * it gives more (a zip bomb costs no more than the declared size). Bytes after the end of the
 * deflate stream are refused: Node 20's `DecompressionStream` ignores them, so an entry could
 * hide another zip entry there, which a reader that walks local headers lists.
 * @param data - the entry's compressed bytes, all of them.
 * @param size - the bytes it must inflate to.
 * @returns exactly `size` bytes.
 * @throws {@link CompressionError} for data that is not deflate, a stream that ends before
 * its end, bytes after its end, or output of another size than `size`.
 */
export function inflateEntry(data: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  const inflater = new Inflate({ raw: true, chunkSize: Math.min(PIECE_BYTES, size + 1) });
  inflater.onData = (piece) => {
    const bytes = piece as Uint8Array;
    if (bytes.length > size - at) throw new PastDeclared();
    out.set(bytes, at);
    at += bytes.length;
  };
  try {
    // No Z_FINISH: with it, pako's loop stops when a full output piece meets the end of the
    // input with output still pending (a long match across a 64 KiB mark near the end), and a
    // valid stream is left unfinished. Without it, the stream still ends where its last block
    // does, and a truncated one still comes out unfinished.
    inflater.push(data, false);
  } catch (err) {
    if (err instanceof PastDeclared) {
      throw new CompressionError(`deflate data inflates past its declared ${size} bytes`);
    }
    throw new CompressionError(`deflate data does not inflate: ${String(err)}`, { cause: err });
  }
  if (inflater.err) {
    throw new CompressionError(`deflate data does not inflate: ${inflater.msg || inflater.err}`);
  }
  const state = inflater as unknown as InflateState;
  if (!state.ended) {
    throw new CompressionError(
      `deflate data ends before the end of its stream (${at} of ${size} bytes inflated)`,
    );
  }
  const left = state.strm.avail_in;
  if (left > 0) throw new CompressionError(`${left} bytes follow the end of the deflate data`);
  if (at !== size) {
    throw new CompressionError(`deflate data inflates to ${at} bytes, it declares ${size}`);
  }
  return out;
}
