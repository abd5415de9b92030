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
 * @param stream - the bytes, or a reader of them (which a caller keeps to cancel the read).
 * @param max - the most bytes accepted. @default unlimited
 * @param tooLong - the error to throw past `max` (the stream is cancelled first).
 * @returns the bytes.
 */
export async function readBytes(
  stream: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array>,
  max = Number.POSITIVE_INFINITY,
  tooLong: () => Error = () => new RangeError(`stream exceeds ${max} bytes`),
): Promise<Uint8Array> {
  const reader = 'getReader' in stream ? stream.getReader() : stream;
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

/**
 * Reads pieces from a stream until it has `n` bytes (or the stream ends), for a caller that
 * looks at the first bytes and then passes every piece on.
 * @param reader - the stream's reader.
 * @param n - bytes wanted.
 * @returns the pieces read, and a copy of the first `n` bytes (fewer if the stream is shorter).
 */
export async function readLeading(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
): Promise<{ pieces: Uint8Array[]; head: Uint8Array }> {
  const pieces: Uint8Array[] = [];
  let size = 0;
  while (size < n) {
    const r = await reader.read();
    if (r.done) break;
    pieces.push(r.value);
    size += r.value.length;
  }
  const head = new Uint8Array(Math.min(n, size));
  let at = 0;
  for (const p of pieces) {
    if (at >= head.length) break;
    const take = p.subarray(0, head.length - at);
    head.set(take, at);
    at += take.length;
  }
  return { pieces, head };
}

/**
 * Reads the first bytes of a stream into memory, for a look at them before the stream is
 * read on.
 * @param stream - the stream (locked from now on).
 * @param limit - the most bytes to hold.
 * @returns `head`, a copy of the first `limit` bytes (or all, if fewer), and `whole`, the
 * stream from its start again (`head`, then what follows it, read on demand); `complete` is
 * true when `head` is all there is.
 */
export async function readHead(
  stream: ReadableStream<Uint8Array>,
  limit: number,
): Promise<{ head: Uint8Array; complete: boolean; whole: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const head = new Uint8Array(limit);
  let size = 0;
  let over: Uint8Array | undefined;
  let complete = false;
  try {
    while (size < limit) {
      const r = await reader.read();
      if (r.done) {
        complete = true;
        break;
      }
      const n = Math.min(r.value.length, limit - size);
      head.set(r.value.subarray(0, n), size);
      size += n;
      if (n < r.value.length) over = r.value.subarray(n);
    }
  } catch (err) {
    reader.releaseLock();
    throw err;
  }
  const bytes = head.subarray(0, size);
  let sentHead = false;
  const whole = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!sentHead) {
          sentHead = true;
          if (bytes.length > 0) controller.enqueue(bytes);
          if (over) controller.enqueue(over);
          if (complete) controller.close();
          return;
        }
        const r = await reader.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  return { head: bytes, complete, whole };
}
