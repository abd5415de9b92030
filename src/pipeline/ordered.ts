/**
 * Results passed on in input order while the work behind them runs concurrently: an
 * {@link OrderedQueue}, and {@link createOrderedMap}, a `TransformStream` over one.
 *
 * @module
 */

/** One place in the queue: a value, or work not started, running, or done. */
interface Slot<T> {
  value?: T;
  /** Work not started yet. */
  work?: () => T | PromiseLike<T>;
  /** Set once `value` is there. */
  done: boolean;
  size: number;
}

/**
 * A queue of results given out in the order they were added: values that are ready, and work
 * that runs at most `concurrency` at once, started in order as earlier work settles. A ready
 * value behind nothing unfinished goes out at once, with no promise in between. The first
 * failure of any work (or an {@link abort}) stops the queue: no more work starts, and
 * {@link drain} raises it at once, without waiting for its turn.
 */
export class OrderedQueue<T> {
  private readonly slots: Slot<T>[] = [];
  /** Slots whose work has not started, in order. */
  private readonly waiting: Slot<T>[] = [];
  private active = 0;
  private held = 0;
  private failure: { error: unknown } | undefined;
  /** Wakes a waiting drain whenever work settles or the queue is aborted. */
  private wake: (() => void) | undefined;

  /**
   * @param concurrency - most work running at once (at least 1).
   * @param capacity - most held (ready, running and waiting, by `size`) when {@link drain}
   *   returns; beyond it, drain waits for the head.
   */
  constructor(
    private readonly concurrency: number,
    private readonly capacity: number,
  ) {}

  /** Adds a value that is ready. */
  add(value: T, size = 1): void {
    this.slots.push({ value, done: true, size });
    this.held += size;
  }

  /** Adds work: run now if fewer than `concurrency` are running, else once enough settle. */
  addWork(work: () => T | PromiseLike<T>, size = 1): void {
    const slot: Slot<T> = { work, done: false, size };
    this.slots.push(slot);
    this.waiting.push(slot);
    this.held += size;
    this.start();
  }

  /** Records `error` as the failure (if none yet) and starts no more work. */
  abort(error: unknown): void {
    this.failure ??= { error };
    this.waiting.length = 0;
    this.wake?.();
  }

  private start(): void {
    // Work added after a failure or an abort (a stage still cutting the piece it had) never
    // starts.
    if (this.failure) return;
    while (this.active < this.concurrency && this.waiting.length) {
      const slot = this.waiting.shift()!;
      const work = slot.work!;
      slot.work = undefined;
      this.active++;
      let running: Promise<T>;
      try {
        // Promise.resolve adopts a thenable from any realm.
        running = Promise.resolve(work());
      } catch (err) {
        running = Promise.reject(err);
      }
      running.then(
        (value) => {
          slot.value = value;
          slot.done = true;
          this.settled();
        },
        (error) => {
          this.abort(error);
          this.settled();
        },
      );
    }
  }

  private settled(): void {
    this.active--;
    this.start();
    this.wake?.();
  }

  /**
   * Gives out results in order: every one at the head that is ready or done, and, while more
   * than `capacity` is held (or, with `all`, anything), waits for the head's work.
   * @param give - takes each result; when it returns a promise (or any thenable), the next
   *   waits for it.
   * @param all - wait for everything, as at the end of input.
   * @throws the first failure of any work.
   */
  async drain(give: (value: T) => unknown, all = false): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure.error;
      const head = this.slots[0];
      if (!head) return;
      if (head.done) {
        this.slots.shift();
        this.held -= head.size;
        const wait = give(head.value as T);
        if (wait) await wait;
        continue;
      }
      if (!all && this.held <= this.capacity) return;
      // Until some work settles (the head's, or another's failure), then look again.
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

/**
 * A `TransformStream` that runs a function over its items with bounded concurrency and emits
 * the results in input order. At most `concurrency` items are held, running or done, when a
 * write completes.
 * @param fn - the work for one item.
 * @param concurrency - most items in flight at once (at least 1).
 * @returns the stream.
 */
export function createOrderedMap<I, O>(
  fn: (item: I) => O | PromiseLike<O>,
  concurrency: number,
): TransformStream<I, O> {
  // Room for the next item: at most `concurrency` held once it is added.
  const queue = new OrderedQueue<O>(concurrency, concurrency - 1);
  // All work is started as it comes (no more than `concurrency` is ever held), so there is
  // nothing queued for a cancel to stop.
  return new TransformStream<I, O>({
    transform(item, controller) {
      queue.addWork(() => fn(item));
      return queue.drain((v) => controller.enqueue(v));
    },
    flush(controller) {
      return queue.drain((v) => controller.enqueue(v), true);
    },
  });
}

/**
 * A transformer that aborts `queue` when its stream is cancelled or aborted, so that no more
 * of the queued work starts. (`cancel` is in the Streams standard and Node 20.20 calls it;
 * TypeScript's DOM types do not list it yet.)
 * @param queue - the queue the transformer drains.
 * @param transformer - the transformer.
 * @returns the transformer with a `cancel` that aborts the queue.
 */
export function stopping<X extends object, T>(
  queue: OrderedQueue<T>,
  transformer: X,
): X & { cancel(reason: unknown): void } {
  return { ...transformer, cancel: (reason: unknown) => queue.abort(reason) };
}
