/**
 * Recycles chunk buffers between the chunker (which fills them) and the chunk writer (which is
 * done with them once the store has the chunk). Without it, chunk buffers that live through a
 * slow store write are promoted to the old generation and pile up as garbage until a full
 * collection, which costs tens of MiB of resident memory.
 *
 * @module
 */

/** A bounded free list of equal-sized buffers. */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly mine = new WeakSet<ArrayBufferLike>();

  /**
   * @param size - bytes per buffer (the largest chunk).
   * @param keep - most spare buffers kept; more are left to the garbage collector.
   */
  constructor(
    readonly size: number,
    readonly keep = 8,
  ) {}

  /** Returns a buffer of {@link BufferPool.size} bytes, reused when one is free. */
  take(): Uint8Array {
    const buf = this.free.pop() ?? new ArrayBuffer(this.size);
    this.mine.add(buf);
    return new Uint8Array(buf);
  }

  /**
   * Hands a buffer back. Views of buffers this pool did not hand out are ignored, so any chunk's
   * bytes may be given back; the caller must not use them afterwards.
   */
  give(view: Uint8Array): void {
    const buf = view.buffer;
    if (!this.mine.has(buf) || this.free.length >= this.keep) return;
    this.mine.delete(buf);
    this.free.push(buf as ArrayBuffer);
  }
}
