/**
 * A transform stage whose output can make its transformer wait, also in the middle of one
 * input piece. A `TransformStream` applies backpressure only between pieces: whatever one
 * `transform` call enqueues is queued whole. That is fine while output is smaller than input,
 * and not when one piece can make far more: a tar whose pax global header gives every later
 * entry 1,000 xattrs of 900 bytes turns each 512-byte header block into a record of about
 * 900 KB, and one 64 KiB read of such a layer into some 115 MB of index bytes, all queued at
 * once (a 1.44 MB tar peaked at 208–220 MiB converting; 96–100 MiB paced).
 *
 * @module
 */

/** What a {@link PacedTransformer} is given: a way out, and a way to wait for the reader. */
export interface PacedController<O> {
  /** Passes output on. */
  enqueue(o: O): void;
  /**
   * A promise while something was enqueued since the last call and the output now holds its
   * high-water mark or more, settled once the stream asks for more (or is cancelled);
   * otherwise nothing. Call it after enqueueing, as often as the output may outgrow the input.
   */
  room(): Promise<void> | undefined;
}

/** A transformer for {@link pacedThrough}: `Transformer`'s methods, given a {@link PacedController}. */
export interface PacedTransformer<I, O> {
  start?(controller: PacedController<O>): void | Promise<void>;
  transform(chunk: I, controller: PacedController<O>): void | Promise<void>;
  flush?(controller: PacedController<O>): void | Promise<void>;
  /** Called when the output is cancelled, and when the source fails. */
  cancel?(reason: unknown): void | Promise<void>;
}

/**
 * Runs `transformer` over `source` as a pull stream: input is read as the transformer asks for
 * it, and output is queued up to `strategy`'s high-water mark, beyond which
 * {@link PacedController.room} makes the transformer wait for the reader. As with
 * `source.pipeThrough(new TransformStream(transformer))`: a failure of `start`, `transform` or
 * `flush` errors the output and cancels the source; a failure of the source errors the output
 * and is passed to the transformer's `cancel`; cancelling the output calls `cancel` and
 * cancels the source, and no `transform` or `flush` starts after that.
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
  /** Set once the output is cancelled or errored: no more work starts. */
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
  /** Fails the output with `err` and cancels the source. */
  const fail = (err: unknown) => {
    stopped = true;
    out.error(err);
    reader.cancel(err).catch(() => {});
  };
  const run = async () => {
    for (;;) {
      let r: ReadableStreamReadResult<I>;
      try {
        r = await reader.read();
      } catch (err) {
        // The source failed: the transformer stops its own work, as a TransformStream's does,
        // and the output fails with the source's error whatever `cancel` does.
        stopped = true;
        try {
          await transformer.cancel?.(err);
        } catch {}
        out.error(err);
        return;
      }
      if (stopped) return;
      if (r.done) break;
      await transformer.transform(r.value, controller);
      if (stopped) return;
    }
    await transformer.flush?.(controller);
    if (!stopped) out.close();
  };
  let started = false;
  return new ReadableStream<O>(
    {
      async start(c) {
        out = c;
        try {
          await transformer.start?.(controller);
        } catch (err) {
          stopped = true;
          reader.cancel(err).catch(() => {});
          throw err;
        }
      },
      pull() {
        resume();
        if (started) return;
        started = true;
        run().catch(fail);
      },
      async cancel(reason) {
        stopped = true;
        // A transformer waiting for room goes on and meets the cancellation.
        resume();
        try {
          await transformer.cancel?.(reason);
        } finally {
          await reader.cancel(reason);
        }
      },
    },
    strategy,
  );
}
