/**
 * Strict raw inflate (RFC 1951) of outside data, on every runtime: the data must be one whole
 * deflate stream and nothing else, and what it inflates to is bounded before it is produced.
 * Zip entries (to exactly the size the central directory declares) and deflate-raw chunks
 * (to at most the chunk size bound) are inflated here. Node 20's `DecompressionStream` and
 * node:zlib both ignore bytes after the end of a deflate stream; these functions refuse them.
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

/** Thrown from pako's `onData` to stop it at once; never leaves this module. */
class PastLimit extends Error {}

/**
 * Inflates raw deflate data that must be one whole deflate stream holding exactly `size`
 * bytes, and nothing else: a zip entry's data. pako writes into a buffer of `size` bytes and is
 * stopped as soon as it gives more (a zip bomb costs no more than the declared size). Bytes
 * after the end of the stream are refused: an entry could hide another zip entry there, which
 * a reader that walks local headers lists.
 * @param data - the compressed bytes, all of them.
 * @param size - the bytes it must inflate to.
 * @returns exactly `size` bytes.
 * @throws {@link CompressionError} for data that is not deflate, a stream that ends before
 * its end, bytes after its end, or output of another size than `size`.
 */
export function inflateRawExact(data: Uint8Array, size: number): Uint8Array {
  const out = inflate(data, size, `its declared ${size} bytes`, () => new Uint8Array(size));
  if (out.length !== size) {
    throw new CompressionError(`deflate data inflates to ${out.length} bytes, it declares ${size}`);
  }
  return out;
}

/**
 * Inflates raw deflate data that must be one whole deflate stream of at most `maxSize` bytes,
 * and nothing else: a deflate-raw chunk. Inflating stops at the first output past `maxSize`.
 * @param data - the compressed bytes, all of them.
 * @param maxSize - the most bytes it may inflate to.
 * @returns the inflated bytes.
 * @throws {@link CompressionError} for data that is not deflate, a stream that ends before
 * its end, bytes after its end, or output past `maxSize`.
 */
export function inflateRawBounded(data: Uint8Array, maxSize: number): Uint8Array {
  // Room for what deflate can give from this input (1032:1), grown by doubling if it is not
  // enough; never more than the bound.
  return inflate(
    data,
    maxSize,
    `${maxSize} bytes`,
    (need) => new Uint8Array(Math.min(maxSize, Math.max(need, PIECE_BYTES, data.length * 4))),
  );
}

/**
 * The inflate both share: pieces go into `room(n)` buffers (a new one, the old bytes copied,
 * when `n` bytes no longer fit), and more than `limit` bytes stop it.
 */
function inflate(
  data: Uint8Array,
  limit: number,
  limitName: string,
  room: (need: number) => Uint8Array,
): Uint8Array {
  let out = room(0);
  let at = 0;
  const inflater = new Inflate({ raw: true, chunkSize: Math.min(PIECE_BYTES, limit + 1) });
  inflater.onData = (piece) => {
    const bytes = piece as Uint8Array;
    if (bytes.length > limit - at) throw new PastLimit();
    if (at + bytes.length > out.length) {
      const grown = room(Math.max(at + bytes.length, out.length * 2));
      grown.set(out.subarray(0, at));
      out = grown;
    }
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
    if (err instanceof PastLimit) {
      throw new CompressionError(`deflate data inflates past ${limitName}`);
    }
    throw new CompressionError(`deflate data does not inflate: ${String(err)}`, { cause: err });
  }
  if (inflater.err) {
    throw new CompressionError(`deflate data does not inflate: ${inflater.msg || inflater.err}`);
  }
  const state = inflater as unknown as InflateState;
  if (!state.ended) {
    throw new CompressionError(
      `deflate data ends before the end of its stream (${at} bytes inflated)`,
    );
  }
  const left = state.strm.avail_in;
  if (left > 0) throw new CompressionError(`${left} bytes follow the end of the deflate data`);
  return at === out.length ? out : out.subarray(0, at);
}
