/**
 * Drives a `TransformStream` (such as `DecompressionStream`) on demand: input is written to it
 * only while a read of its output is waiting, one slice at a time. Node 20's
 * `DecompressionStream` applies no backpressure between its sides, so piping a source into it
 * buffers the whole input; driven this way, what sits inside it is bounded by one input slice
 * (and that slice's output).
 *
 * @module
 */

/** A read of the transform's output, and how it ended once it has. */
interface Read {
  /** Settles (never rejects) once the read has. */
  settled: Promise<void>;
  result?: ReadableStreamReadResult<Uint8Array>;
  failure?: { err: unknown };
}

/** Microtask turns given to a read that may already be done before more input is fed. */
const SETTLE_TURNS = 8;

/**
 * Waits until `p` settles or a few microtask turns pass, whichever is first. An output
 * already waiting settles within a turn or two, or a few more when the stream's promises come
 * from another realm (a vm context, as in Jest): it is not mistaken for none.
 */
async function settleSoon(p: Promise<void>): Promise<void> {
  let turns = SETTLE_TURNS;
  let done = false;
  p.then(() => {
    done = true;
  });
  while (!done && turns-- > 0) await undefined;
}

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
  let read: Read | undefined;
  const startRead = (): Read => {
    const r: Read = { settled: Promise.resolve() };
    r.settled = output.read().then(
      (result) => {
        r.result = result;
      },
      (err: unknown) => {
        r.failure = { err };
      },
    );
    return r;
  };

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
        read ??= startRead();
        const r = read;
        await settleSoon(r.settled);
        // Every wait below is for a real event (the read or the write settling), and the
        // read's outcome is read from flags it sets: no race against a ready value, which a
        // promise of another realm always loses, so a loop that never waits cannot happen.
        for (;;) {
          if (r.failure) {
            read = undefined;
            throw r.failure.err;
          }
          if (r.result) {
            read = undefined;
            if (r.result.done) controller.close();
            else controller.enqueue(r.result.value);
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
          await Promise.race([r.settled, writing ?? r.settled]);
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
