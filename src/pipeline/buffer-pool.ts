/**
 * Recycles buffers of whole chunks between the rebuilding pipelines, which read chunks into
 * them and lend them to the consumer, and the consumer, which gives each back once written.
 * Without it, chunk buffers that live through a slow write are promoted to the old generation
 * and pile up as garbage until a full collection, which costs tens of MiB of resident memory.
 * (A conversion cuts its chunks into `ChunkBlocks` instead: it learns a chunk's length
 * only once it has cut it.)
 *
 * Buffers come in power-of-two size classes from 4 KiB up to the largest chunk, so a small
 * file's chunk does not pin a buffer of the largest chunk size.
 *
 * @module
 */

const MIN_CLASS = 4096;

/** A bounded free list of buffers in power-of-two size classes. */
export class BufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly mine = new WeakSet<ArrayBufferLike>();
  private idle = 0;

  /**
   * @param max - the largest buffer handed out (the largest chunk).
   * @param keepBytes - most bytes of spare buffers kept; more are left to the garbage collector.
   *   @default 8 MiB
   */
  constructor(
    readonly max: number,
    readonly keepBytes = 8 * 1024 * 1024,
  ) {}

  /** Size class of a request: the next power of two, at least 4 KiB, at most `max`. */
  private classOf(n: number): number {
    let c = MIN_CLASS;
    while (c < n && c < this.max) c *= 2;
    return Math.min(c, this.max);
  }

  /**
   * Returns a buffer of at least `atLeast` bytes (capped at `max`), reused when one is free.
   * @param atLeast - bytes needed. @default max
   */
  take(atLeast = this.max): Uint8Array {
    const size = this.classOf(atLeast);
    const buf = this.free.get(size)?.pop();
    if (buf) {
      this.idle -= size;
      return new Uint8Array(buf);
    }
    const fresh = new ArrayBuffer(size);
    this.mine.add(fresh);
    return new Uint8Array(fresh);
  }

  /**
   * Hands a buffer back. Views of buffers this pool did not hand out are ignored, so any chunk's
   * bytes may be given back; the caller must not use them afterwards.
   */
  give(view: Uint8Array): void {
    const buf = view.buffer as ArrayBuffer;
    if (!this.mine.has(buf) || this.idle + buf.byteLength > this.keepBytes) return;
    const list = this.free.get(buf.byteLength) ?? [];
    this.free.set(buf.byteLength, list);
    if (list.includes(buf)) return;
    list.push(buf);
    this.idle += buf.byteLength;
  }
}
