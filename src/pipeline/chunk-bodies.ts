/**
 * Cuts every entry body (and the tail) of a tokenized tar into content-defined chunks. Chunk
 * boundaries restart at each body, so a file's chunks do not depend on what precedes it.
 *
 * @module
 */
import type { CdcKernel, ChunkerParams, CutState } from '../cdc/types.js';
import { giveBack, isLent } from '../lend.js';
import { Slabs } from '../slabs.js';
import { isZeroBlock } from '../tar/header.js';
import type { TarToken } from '../tar/types.js';
import { ChunkBlocks } from './chunk-blocks.js';
import type { ChunkedToken } from './tokens.js';

/**
 * Bytes of tokens (by {@link tokenSize}) the chunker's output holds before it waits: room for
 * the chunks of about one input piece. The chunker can then copy a piece out in one go and
 * release it at once, instead of keeping it alive (long enough to be promoted, and then linger
 * as garbage) while slow stages drain its chunks one by one. More only holds more chunk
 * buffers: at 2 MiB, a conversion through `createTarChunker` took 5% longer and 15 MiB more
 * memory.
 */
export const HELD_BYTES = 512 * 1024;

/** Options of {@link createBodyChunker}. */
export interface BodyChunkerOptions {
  /** The cut-point kernel (WebAssembly or JS), or a promise of one. */
  kernel: CdcKernel | Promise<CdcKernel>;
  /** Validated chunk size bounds. */
  params: ChunkerParams;
  /**
   * Where chunks are cut into; give them back once done with them (the chunk writer does).
   * @default blocks of their own
   */
  blocks?: ChunkBlocks;
}

/**
 * Creates the stream that turns tar tokens into header, chunk, end and tail tokens. Every
 * chunk is copied once into memory from the blocks, so input pieces are released as soon as
 * they are cut. Memory is bounded by the bytes of the chunks in flight, with up to `params.max`
 * of room and a block's tail each. Chunks share blocks: see `ChunkToken` before keeping
 * or transferring one.
 *
 * @param options - kernel and chunk size bounds.
 * @returns a `TransformStream` from {@link TarToken}s to {@link ChunkedToken}s.
 */
export function createBodyChunker(
  options: BodyChunkerOptions,
): TransformStream<TarToken, ChunkedToken> {
  let chunker: BodyChunker;
  return new TransformStream<TarToken, ChunkedToken>(
    {
      async start() {
        chunker = new BodyChunker(await options.kernel, options.params, options.blocks);
      },
      transform(token, controller) {
        chunker.push(token, (t) => controller.enqueue(t));
      },
      flush(controller) {
        chunker.finish((t) => controller.enqueue(t));
      },
    },
    undefined,
    { highWaterMark: HELD_BYTES, size: tokenSize },
  );
}

/**
 * The body chunker's state, kept apart from the stream so that it stays synchronous (and so
 * that a conversion can run it inside a stage of its own; see `chunk-tar.ts`).
 */
export class BodyChunker {
  private readonly blocks: ChunkBlocks;
  private state: CutState = { pos: 0, hash: 0 };
  /** The open chunk: its room and how much of it is filled. */
  private open: Uint8Array | undefined;
  private filled = 0;
  /** Bytes of the current body not yet seen (unknown in the tail: Infinity). */
  private bodyLeft = 0;
  private inTail = false;
  private readonly cuts: number[] = [];
  /**
   * The lent buffer behind the last input piece. Every stage before this one is done with a
   * piece before it passes on the next, and this stage copies what it keeps, so once a piece of
   * another lent buffer arrives, this one can go back to its source (see {@link giveBack}).
   */
  private input: ArrayBufferLike | undefined;
  /** Where the padding this stage passes on is kept (see {@link Slabs}). */
  private readonly paddings = new Slabs();

  /**
   * @param kernel - the cut-point kernel.
   * @param params - validated chunk size bounds.
   * @param blocks - where chunks are cut into. @default blocks of their own
   */
  constructor(
    private readonly kernel: CdcKernel,
    private readonly params: ChunkerParams,
    blocks?: ChunkBlocks,
  ) {
    this.blocks = blocks ?? new ChunkBlocks(params.max);
  }

  /** A copy of `padding`; zero padding (nearly all) costs no copy and no buffer of its own. */
  private ownPadding(padding: Uint8Array): Uint8Array {
    return isZeroBlock(padding) ? this.paddings.alloc(padding.length) : padding.slice();
  }

  /** Takes the next token; emits header, chunk, end and tail tokens. */
  push(token: TarToken, emit: (t: ChunkedToken) => void): void {
    switch (token.type) {
      case 'header':
        this.bodyLeft = token.entry.bodySize;
        emit(token);
        return;
      case 'body':
        this.nextInput(token.bytes);
        if (token.bytes.length) this.cut(token.bytes, emit);
        return;
      case 'end':
        this.nextInput(token.padding);
        this.finishBody(emit);
        // Not a view of the input: it would pin the whole piece until the record builder, far
        // downstream, is done with it.
        emit({ type: 'end', padding: this.ownPadding(token.padding) });
        return;
      case 'tail':
        this.nextInput(token.bytes);
        if (!this.inTail) {
          this.inTail = true;
          this.bodyLeft = Number.POSITIVE_INFINITY;
          emit({ type: 'tail' });
        }
        if (token.bytes.length) this.cut(token.bytes, emit);
        return;
    }
  }

  /** Ends the input: emits the last chunk and gives the last input buffer back. */
  finish(emit: (t: ChunkedToken) => void): void {
    this.finishBody(emit);
    if (this.input) giveBack(this.input);
    this.input = undefined;
  }

  private nextInput(view: Uint8Array): void {
    // Only a lent buffer marks a position in the input: the tokenizer also emits views of its
    // own buffers (padding that straddled two pieces, empty padding) between pieces of one.
    if (view.buffer === this.input || !isLent(view.buffer)) return;
    if (this.input) giveBack(this.input);
    this.input = view.buffer;
  }

  private append(bytes: Uint8Array): void {
    // A chunk never outgrows its body: take room for what is left of it.
    this.open ??= this.blocks.take(Math.min(this.params.max, this.bodyLeft));
    this.open.set(bytes, this.filled);
    this.filled += bytes.length;
    this.bodyLeft -= bytes.length;
  }

  private emitChunk(emit: (t: ChunkedToken) => void): void {
    if (!this.open || this.filled === 0) return;
    emit({ type: 'chunk', bytes: this.blocks.trim(this.open, this.filled) });
    this.open = undefined;
    this.filled = 0;
  }

  private cut(bytes: Uint8Array, emit: (t: ChunkedToken) => void): void {
    this.cuts.length = 0;
    this.state = this.kernel.findCuts(this.params, this.state, bytes, this.cuts);
    let start = 0;
    for (const c of this.cuts) {
      this.append(bytes.subarray(start, c));
      this.emitChunk(emit);
      start = c;
    }
    if (start < bytes.length) this.append(bytes.subarray(start));
  }

  private finishBody(emit: (t: ChunkedToken) => void): void {
    this.emitChunk(emit);
    this.state = { pos: 0, hash: 0 };
  }
}

/**
 * What a token holds, roughly, in bytes: a chunk its bytes; a header its raw header bytes
 * (pax data up to `maxHeaderBytes`) and its pax attributes (global keywords included).
 */
export function tokenSize(t: ChunkedToken): number {
  if (t.type === 'chunk') return t.bytes.byteLength;
  if (t.type !== 'header') return 512;
  let keys = 0;
  for (const _ in t.entry.pax) keys++;
  return 512 + t.raw.byteLength + 64 * keys;
}
