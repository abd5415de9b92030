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
   * @returns its release, which frees the slot once however often it is called.
   */
  async acquire(): Promise<() => void> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
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
}
