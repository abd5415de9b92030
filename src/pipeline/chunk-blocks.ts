/**
 * Where a conversion's chunks are cut into: fixed-size blocks of memory, carved into chunks one
 * after another, each block used again once every chunk carved from it is given back.
 *
 * A chunker does not know how long a chunk is until it cuts it, so it takes room for the
 * longest chunk the body can still hold and hands the rest back when it cuts ({@link
 * ChunkBlocks.trim}). Chunks of a large file (64 KiB on average in room of 256 KiB) and of
 * small files (a few KiB each) then share blocks, where buffers of their own, pooled by size,
 * had every size class hold the most it ever had in flight: converting this VM's `/usr/lib`
 * (a 5 GB tar of 72,897 entries) allocated 14.2 MiB of chunk buffers that way for at most 6.5
 * MiB taken at once, counted in whole buffers (scratch counters, 2026-11-29), and dropped 6.3
 * MiB of them as garbage, which the malloc heap then kept.
 *
 * @module
 */

/** Carved chunks start at multiples of this (a cache line). */
const ALIGN = 64;
/** Smallest block. */
const MIN_BLOCK = 1024 * 1024;
/** Idle blocks kept by default: this many bytes of them, and at least one. */
const KEEP_BYTES = 4 * 1024 * 1024;

/** A block: its memory, how far it is carved, and its rooms and chunks not given back. */
interface Block {
  readonly buffer: ArrayBuffer;
  used: number;
  readonly out: Set<Uint8Array>;
}

const aligned = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
/** Where room of `n` bytes at `at` ends: every piece takes a byte at least, so no two start at one place. */
const roomEnd = (at: number, n: number): number => aligned(at + Math.max(n, 1));

/**
 * Blocks carved into chunks. {@link ChunkBlocks.take} reserves room at the end of the current
 * block; {@link ChunkBlocks.trim} gives back what the chunk did not fill; {@link
 * ChunkBlocks.give} returns the chunk, and a block whose chunks are all back is used again.
 * Several chunkers may share one: every piece of room is reserved when taken. The views share
 * a buffer, so transferring one's buffer (`postMessage` with a transfer list) would empty the
 * others, and keeping one keeps its whole block: copy one first. Chunks are known by the view
 * itself, so a view given back twice, or another view of the same bytes, frees nothing.
 */
export class ChunkBlocks {
  /** Bytes in a block: at least 1 MiB and twice `max`. */
  readonly blockSize: number;
  /** Idle blocks kept for reuse. */
  readonly keepBlocks: number;
  #current: Block | undefined;
  readonly #idle: Block[] = [];
  readonly #blocks = new WeakMap<ArrayBufferLike, Block>();

  /**
   * @param max - the most room taken at once (the largest chunk).
   * @param keepBlocks - blocks kept for reuse once all their chunks are back; a block beyond
   *   them is left to the garbage collector. Chunks in flight span a varying number of blocks:
   *   with 16 chunks of up to 256 KiB coming back in order, keeping 2 made 69 blocks in all
   *   over 20,000 chunks, keeping 4 made 5 (`chunk-blocks.test.ts`). @default 4 MiB of blocks
   *   (4 of the default 1 MiB), and at least one
   */
  constructor(
    readonly max: number,
    keepBlocks?: number,
  ) {
    if (!(Number.isSafeInteger(max) && max > 0)) throw new RangeError(`max ${max} is not a size`);
    this.blockSize = Math.max(MIN_BLOCK, aligned(2 * max));
    this.keepBlocks = keepBlocks ?? Math.max(1, Math.floor(KEEP_BYTES / this.blockSize));
  }

  /**
   * Reserves room for a chunk of up to `atLeast` bytes (at most `max`) at the end of the
   * current block, or of a fresh one when it has too little left.
   * @param atLeast - bytes the chunk may need (`Infinity`: `max`). @default max
   * @returns a view of the room, exactly that long.
   * @throws `RangeError` when `atLeast` is negative or not a number.
   */
  take(atLeast = this.max): Uint8Array {
    if (!(atLeast >= 0)) throw new RangeError(`room of ${atLeast} bytes`);
    const n = Math.ceil(Math.min(atLeast, this.max));
    let b = this.#current;
    if (!b || roomEnd(b.used, n) > b.buffer.byteLength) b = this.#next();
    const at = b.used;
    b.used = roomEnd(at, n);
    const room = new Uint8Array(b.buffer, at, n);
    b.out.add(room);
    return room;
  }

  /**
   * Ends a piece of room at `length` bytes: the chunk is its first `length` bytes, and the rest
   * goes back to the block when nothing was reserved after it.
   * @param room - a view {@link ChunkBlocks.take} returned.
   * @param length - bytes of it the chunk holds.
   * @returns the chunk: a view of the room's first `length` bytes, to give back instead of the
   *   room.
   * @throws `RangeError` when `length` is not a whole number of bytes the room holds.
   */
  trim(room: Uint8Array, length: number): Uint8Array {
    if (!(Number.isSafeInteger(length) && length >= 0 && length <= room.length)) {
      throw new RangeError(`trim to ${length} bytes of room of ${room.length}`);
    }
    const chunk = room.subarray(0, length);
    const b = this.#blocks.get(room.buffer);
    if (!b?.out.delete(room)) return chunk;
    b.out.add(chunk);
    if (b.used === roomEnd(room.byteOffset, room.length)) b.used = roomEnd(room.byteOffset, length);
    return chunk;
  }

  /**
   * Tells whether `chunk` is out of these blocks, as {@link ChunkBlocks.take} or
   * {@link ChunkBlocks.trim} returned it and not given back yet: memory whose owner, once the
   * chunk is stored, is these blocks alone.
   * @param chunk - any bytes.
   */
  holds(chunk: Uint8Array): boolean {
    return this.#blocks.get(chunk.buffer)?.out.has(chunk) === true;
  }

  /**
   * Gives a chunk back: its bytes may be carved again, so the caller must not use them
   * afterwards. Anything else (other memory, another view of the chunk's bytes, a chunk given
   * back already) is ignored.
   * @param chunk - the chunk, as {@link ChunkBlocks.trim} returned it (or a room never trimmed).
   */
  give(chunk: Uint8Array): void {
    const b = this.#blocks.get(chunk.buffer);
    if (!b?.out.delete(chunk) || b.out.size > 0 || b === this.#current) return;
    if (this.#idle.length < this.keepBlocks) this.#idle.push(b);
  }

  /** The block to carve next: the current one again if all its chunks are back. */
  #next(): Block {
    const old = this.#current;
    // A block left with chunks out goes idle when the last of them comes back (`give`).
    const b = old && old.out.size === 0 ? old : (this.#idle.pop() ?? this.#fresh());
    b.used = 0;
    this.#current = b;
    return b;
  }

  #fresh(): Block {
    const b: Block = { buffer: new ArrayBuffer(this.blockSize), used: 0, out: new Set() };
    this.#blocks.set(b.buffer, b);
    return b;
  }
}
