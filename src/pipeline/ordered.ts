/**
 * Results passed on in input order while the work behind them runs concurrently: an
 * {@link OrderedQueue}, and {@link createOrderedMap}, a `TransformStream` over one.
 *
 * @module
 */

/**
 * A queue of results, some ready and some still running, given out in the order they were
 * added. Only the running ones cost a wait: a ready result behind nothing running goes out at
 * once, with no promise in between.
 */
export class OrderedQueue<T> {
  private readonly items: Array<T | Promise<T>> = [];
  private running = 0;

  /** @param limit - results left running when {@link drain} returns (0 or more). */
  constructor(private readonly limit: number) {}

  /**
   * Adds a result, ready or running (any thenable, from whatever realm). A running one's
   * failure surfaces when its turn comes.
   */
  add(item: T | PromiseLike<T>): void {
    if (isThenable(item)) {
      const p = item instanceof Promise ? (item as Promise<T>) : Promise.resolve(item);
      // Marked as handled now; the rejection is still seen when its turn comes.
      p.catch(() => {});
      this.running++;
      this.items.push(p);
    } else {
      this.items.push(item);
    }
  }

  /**
   * Gives out results in order: every ready one at the head, and, while more than `limit`
   * (or, with `all`, any) are running, the head's once it is done.
   * @param give - takes each result.
   * @param all - wait for everything, as at the end of input.
   * @throws the failure of a running result whose turn came.
   */
  async drain(give: (value: T) => void, all = false): Promise<void> {
    while (this.items.length) {
      const head = this.items[0]!;
      if (!(head instanceof Promise)) {
        this.items.shift();
        give(head);
        continue;
      }
      if (!all && this.running <= this.limit) return;
      const value = await head;
      this.items.shift();
      this.running--;
      give(value);
    }
  }
}

function isThenable<T>(x: T | PromiseLike<T>): x is PromiseLike<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/**
 * A `TransformStream` that runs a function over its items with bounded concurrency and emits
 * the results in input order. Memory is bounded by `concurrency` items in flight.
 * @param fn - the work for one item.
 * @param concurrency - most items in flight at once (at least 1).
 * @returns the stream.
 */
export function createOrderedMap<I, O>(
  fn: (item: I) => O | Promise<O>,
  concurrency: number,
): TransformStream<I, O> {
  // Room for this item's successor: at most `concurrency` in flight once it is added.
  const queue = new OrderedQueue<O>(Math.max(1, concurrency) - 1);
  return new TransformStream<I, O>({
    transform(item, controller) {
      let result: O | PromiseLike<O>;
      try {
        result = fn(item);
      } catch (err) {
        result = Promise.reject(err);
      }
      queue.add(result);
      return queue.drain((v) => controller.enqueue(v));
    },
    flush(controller) {
      return queue.drain((v) => controller.enqueue(v), true);
    },
  });
}
