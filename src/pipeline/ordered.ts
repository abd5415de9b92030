/**
 * A `TransformStream` that runs an async function over its items with bounded concurrency and
 * emits the results in input order. Memory is bounded by `concurrency` items in flight.
 *
 * @module
 */

/**
 * @param fn - the work for one item.
 * @param concurrency - most items in flight at once (at least 1).
 * @returns the stream.
 */
export function createOrderedMap<I, O>(
  fn: (item: I) => O | Promise<O>,
  concurrency: number,
): TransformStream<I, O> {
  const inFlight: Promise<O>[] = [];
  return new TransformStream<I, O>({
    async transform(item, controller) {
      const p = Promise.resolve().then(() => fn(item));
      // Mark as handled now; the rejection is still seen when `p` itself is awaited, in order.
      p.catch(() => {});
      inFlight.push(p);
      while (inFlight.length >= Math.max(1, concurrency))
        controller.enqueue(await inFlight.shift()!);
    },
    async flush(controller) {
      while (inFlight.length) controller.enqueue(await inFlight.shift()!);
    },
  });
}
