/**
 * HTTP byte ranges of one blob (RFC 9110 §14): the `Range` request header parsed, and a
 * stream cut down to the range it names.
 *
 * @module
 */

/** A satisfiable range: bytes `start` to `end`, both included. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a `Range` header asks of a blob of `size` bytes.
 * @param header - the header's value, or null.
 * @param size - the blob's size.
 * @returns `undefined` to send the whole blob (no header, a header this parser does not take:
 * another unit, several ranges, a malformed one, which RFC 9110 lets a server ignore),
 * `'unsatisfiable'` for one range that starts beyond the blob (answered with 416), or the range.
 */
export function parseRange(
  header: string | null,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === null) return undefined;
  const m = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!m) return undefined;
  const [, first, last] = m as unknown as [string, string, string];
  if (first === '') {
    // A suffix: the last `last` bytes.
    if (last === '') return undefined;
    const n = Number(last);
    // Of an empty blob, no suffix is satisfiable (RFC 9110 §14.1.2).
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/**
 * A stream that passes on only bytes `start` to `end` (both included) of what goes through it,
 * and ends, cancelling what feeds it, once it has passed the last one.
 * @param range - the range.
 * @returns the transform.
 */
export function byteRange(range: ByteRange): TransformStream<Uint8Array, Uint8Array> {
  let at = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const from = Math.max(range.start - at, 0);
      const to = Math.min(range.end + 1 - at, chunk.length);
      at += chunk.length;
      if (from < to) controller.enqueue(chunk.subarray(from, to));
      if (at > range.end) controller.terminate();
    },
  });
}
