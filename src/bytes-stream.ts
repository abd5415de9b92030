/**
 * Byte arrays to streams and back, for the many APIs that take a `ReadableStream` of bytes
 * (an index root held in memory, a chunk to compress).
 *
 * @module
 */

/**
 * A stream of one byte array.
 * @param bytes - the bytes (not copied).
 * @returns a stream that yields `bytes` once, then closes.
 * @example
 * ```ts
 * const tar = reassemble(streamOfBytes(rootBytes), store);
 * ```
 */
export function streamOfBytes(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      c.enqueue(bytes);
      c.close();
    },
  });
}

/**
 * Reads a whole stream of bytes into one array, refusing to read more than `max` bytes.
 * @param stream - the bytes.
 * @param max - the most bytes accepted. @default unlimited
 * @param tooLong - the error to throw past `max` (the stream is cancelled first).
 * @returns the bytes.
 */
export async function readBytes(
  stream: ReadableStream<Uint8Array>,
  max = Number.POSITIVE_INFINITY,
  tooLong: () => Error = () => new RangeError(`stream exceeds ${max} bytes`),
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    size += r.value.length;
    if (size > max) {
      await reader.cancel();
      throw tooLong();
    }
    parts.push(r.value);
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
