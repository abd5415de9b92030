/**
 * Work that runs a bounded number at once and fails as one: the first failure aborts the
 * signal every piece of work was given, work not yet started does not start, and
 * {@link WorkGroup.all} fails with that first failure only once nothing is running, so no work
 * goes on behind a caller that has already failed. Layers pushed or pulled at once use it, their
 * sources stopped by {@link stopOnAbort}.
 *
 * @module
 */
import { Slots } from './slots.js';

/** Work run at most `max` at once, failing as one. */
export class WorkGroup {
  private readonly slots: Slots;
  private readonly failed = new AbortController();
  /** The signals of the work running now: each has its own, so that none gathers listeners. */
  private readonly running = new Set<AbortController>();

  /** @param max - the most pieces of work running at once (a whole number from 1). */
  constructor(max: number) {
    this.slots = new Slots(max);
  }

  /** Aborted, with the group's first failure as its reason, when any work fails. */
  get signal(): AbortSignal {
    return this.failed.signal;
  }

  /**
   * Runs `work` when a slot is free, unless the group failed before then (it then rejects
   * with the group's first failure). If it fails first, its failure aborts {@link signal}.
   * @param work - given a signal of its own, aborted with the group's first failure.
   */
  async run<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const release = await this.slots.acquire();
    const own = new AbortController();
    this.running.add(own);
    try {
      this.signal.throwIfAborted();
      return await work(own.signal);
    } catch (err) {
      this.fail(err);
      throw err;
    } finally {
      this.running.delete(own);
      release();
    }
  }

  /**
   * The results of `pending`, in order, once every one settled. If any failed, the group's first
   * failure: the first to abort its signal, whether one of these or other work of the group.
   */
  async all<T>(pending: Promise<T>[]): Promise<T[]> {
    // A failure of a promise the group did not run stops the rest as soon as it happens.
    for (const p of pending) p.catch((err: unknown) => this.fail(err));
    const settled = await Promise.allSettled(pending);
    this.signal.throwIfAborted();
    return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  /** Fails the group with `reason` unless it failed already. */
  private fail(reason: unknown): void {
    if (this.failed.signal.aborted) return;
    this.failed.abort(reason);
    for (const own of this.running) own.abort(reason);
  }
}

/**
 * `stream`, failing with the signal's reason as soon as the signal is aborted, even while a
 * read waits on the source (which is then cancelled, so a request behind it is given up): its
 * consumer then fails as for any error of its source.
 */
export function stopOnAbort<T>(stream: ReadableStream<T>, signal: AbortSignal): ReadableStream<T> {
  const reader = stream.getReader();
  if (signal.aborted) {
    reader.cancel(signal.reason).catch(() => {});
    signal.throwIfAborted();
  }
  let onAbort = () => {};
  const done = () => signal.removeEventListener('abort', onAbort);
  return new ReadableStream<T>(
    {
      start(controller) {
        onAbort = () => {
          controller.error(signal.reason);
          reader.cancel(signal.reason).catch(() => {});
        };
        signal.addEventListener('abort', onAbort, { once: true });
      },
      async pull(controller) {
        let r: ReadableStreamReadResult<T>;
        try {
          r = await reader.read();
        } catch (err) {
          done();
          throw err;
        }
        if (signal.aborted) return;
        if (r.done) {
          done();
          controller.close();
        } else {
          controller.enqueue(r.value);
        }
      },
      cancel(reason) {
        done();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * Tasks run one at a time per key: a task for a key waits until the one under way for the same
 * key has ended, however it ended. Tasks of different keys run at once. Two layers that come
 * out as the same blob use it, so that the second finds the blob written instead of writing it
 * again beside the first.
 */
export class TurnsByKey {
  private readonly running = new Map<string, Promise<unknown>>();

  /**
   * Runs `task` once no other task of `key` is running.
   * @param signal - aborting it ends the wait (with its reason); a task under way is its own.
   */
  async run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let ahead = this.running.get(key); ahead; ahead = this.running.get(key)) {
      await untilSettled(ahead, signal);
    }
    const done = task();
    this.running.set(key, done);
    try {
      return await done;
    } finally {
      this.running.delete(key);
    }
  }
}

/** Waits until `p` settles, however; fails with the signal's reason when it is aborted first. */
function untilSettled(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const stop = () => reject(signal?.reason);
    signal?.addEventListener('abort', stop, { once: true });
    const settled = () => {
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    p.then(settled, settled);
  });
}
