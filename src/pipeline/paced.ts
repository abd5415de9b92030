/**
 * A transform stage whose output can make its transformer wait, also in the middle of one
 * input piece. A `TransformStream` applies backpressure only between pieces: whatever one
 * `transform` call enqueues is queued whole. That is fine while output is smaller than input,
 * and not when one piece can make far more: a tar whose pax global header gives every later
 * entry 1,000 xattrs of 900 bytes turns each 512-byte header block into a record of about
 * 900 KB, and one 64 KiB read of such a layer into some 115 MB of index bytes, all queued at
 * once (a 1.4 MB tar peaked at 217 MB converting).
 *
 * @module
 */

/** What a {@link PacedTransformer} is given: a way out, and a way to wait for the reader. */
export interface PacedController<O> {
  /** Passes output on. */
  enqueue(o: O): void;
  /**
   * Nothing while the output holds less than its high-water mark; otherwise a promise that
   * settles once the reader has taken some (or the stage was cancelled).
   */
  room(): Promise<void> | undefined;
}

/** A transformer for {@link pacedThrough}: `Transformer`'s methods, given a {@link PacedController}. */
export interface PacedTransformer<I, O> {
  start?(controller: PacedController<O>): void | Promise<void>;
  transform(chunk: I, controller: PacedController<O>): void | Promise<void>;
  flush?(controller: PacedController<O>): void | Promise<void>;
  cancel?(reason: unknown): void | Promise<void>;
}

/**
 * Runs `transformer` over `source` as a pull stream: input is read as the transformer asks for
 * it, and output is queued up to `strategy`'s high-water mark, beyond which
 * {@link PacedController.room} makes the transformer wait for the reader. A failure of the
 * source or of the transformer errors the stream (and cancels the source); cancelling the
 * stream cancels the transformer and the source.
 * @param source - the input (locked to the stage).
 * @param transformer - the work.
 * @param strategy - the output's queuing strategy.
 * @returns the output.
 */
export function pacedThrough<I, O>(
  source: ReadableStream<I>,
  transformer: PacedTransformer<I, O>,
  strategy?: QueuingStrategy<O>,
): ReadableStream<O> {
  const reader = source.getReader();
  let out!: ReadableStreamDefaultController<O>;
  /** Wakes the transformer waiting for room, if it is. */
  let wake: (() => void) | undefined;
  let stopped = false;
  const resume = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  /** Whether anything was enqueued since `room` last looked: most calls need not look. */
  let added = false;
  const controller: PacedController<O> = {
    enqueue: (o) => {
      out.enqueue(o);
      added = true;
    },
    room: () => {
      if (!added) return;
      added = false;
      if (stopped || (out.desiredSize ?? 0) > 0) return;
      return new Promise<void>((resolve) => {
        wake = resolve;
      });
    },
  };
  const run = async () => {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      await transformer.transform(r.value, controller);
    }
    await transformer.flush?.(controller);
    out.close();
  };
  let started = false;
  return new ReadableStream<O>(
    {
      async start(c) {
        out = c;
        await transformer.start?.(controller);
      },
      pull() {
        resume();
        if (started) return;
        started = true;
        run().catch((err: unknown) => {
          stopped = true;
          out.error(err);
          reader.cancel(err).catch(() => {});
        });
      },
      async cancel(reason) {
        stopped = true;
        // A transformer waiting for room goes on and meets the cancellation.
        resume();
        await transformer.cancel?.(reason);
        await reader.cancel(reason);
      },
    },
    strategy,
  );
}
