/**
 * A bound on work in flight: at most `max` holders at once, the rest waiting in order.
 *
 * @module
 */

/** Slots of work: `acquire` waits for a free one and gives back its release. */
export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  /** @param max - the most holders at once (a whole number from 1). */
  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new TypeError(`slots must be a whole number from 1, got ${max}`);
    }
  }

  /** Holders now. */
  get held(): number {
    return this.active;
  }

  /** Waiters now. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a slot.
   * @param signal - aborting it while the wait goes on leaves the queue (the promise rejects
   * with its reason), so work given up before its turn never starts; already aborted, no slot
   * is taken.
   * @returns its release, which frees the slot once however often it is called.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.active < this.max) this.active++;
    else await this.wait(signal);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter; `active` stays as it is.
      if (next) next();
      else this.active--;
    };
  }

  /** Waits in the queue until a release passes its slot on, or `signal` takes it out. */
  private wait(signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(turn), 1);
        reject(signal?.reason);
      };
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.waiting.push(turn);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
