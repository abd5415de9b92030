/**
 * Drives a `TransformStream` (such as `DecompressionStream`) on demand: input is written to it
 * only while a read of its output is waiting, one slice at a time. Node 20's
 * `DecompressionStream` applies no backpressure between its sides, so piping a source into it
 * buffers the whole input; driven this way, what sits inside it is bounded by one input slice
 * (and that slice's output).
 *
 * @module
 */

const PENDING: unique symbol = Symbol('pending');

/**
 * @param source - input for the transform.
 * @param transform - the transform to drive.
 * @param sliceBytes - largest input slice written at once. @default 65536
 * @returns the transform's output, produced only as it is pulled.
 */
export function pullThrough(
  source: ReadableStream<Uint8Array>,
  transform: TransformStream<Uint8Array, Uint8Array>,
  sliceBytes = 64 * 1024,
): ReadableStream<Uint8Array> {
  const input = source.getReader();
  const writer = transform.writable.getWriter();
  const output = transform.readable.getReader();
  let piece: Uint8Array | undefined;
  let at = 0;
  let inputDone = false;
  let pendingRead: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;

  /** Writes the next input slice (or closes the writer at the end of the input). */
  const feed = async () => {
    if (!piece || at >= piece.length) {
      const r = await input.read();
      if (r.done) {
        inputDone = true;
        await writer.close();
        return;
      }
      piece = r.value;
      at = 0;
    }
    const slice = piece.subarray(at, at + sliceBytes);
    at += slice.length;
    await writer.write(slice);
  };

  /** The one write in flight, if any. A write may not finish until output is read. */
  let writing: Promise<void> | undefined;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pendingRead ??= output.read();
        pendingRead.catch(() => {});
        for (;;) {
          const r = await Promise.race<ReadableStreamReadResult<Uint8Array> | typeof PENDING>([
            pendingRead,
            PENDING,
          ]);
          if (r !== PENDING) {
            pendingRead = undefined;
            if (r.done) controller.close();
            else controller.enqueue(r.value);
            return;
          }
          // No output yet: feed one more slice, unless a write is still in flight or all
          // input is in, then wait for whichever comes first: output or the write finishing.
          if (!writing && !inputDone) {
            writing = feed().finally(() => {
              writing = undefined;
            });
            // Handled here; a failure still surfaces through the race below.
            writing.catch(() => {});
          }
          await Promise.race([pendingRead, writing ?? pendingRead]);
        }
      },
      async cancel(reason) {
        await Promise.allSettled([
          input.cancel(reason),
          output.cancel(reason),
          writer.abort(reason),
        ]);
      },
    },
    { highWaterMark: 0 },
  );
}
