/**
 * Cuts every entry body (and the tail) of a tokenized tar into content-defined chunks. Chunk
 * boundaries restart at each body, so a file's chunks do not depend on what precedes it.
 *
 * @module
 */
import type { CdcKernel, ChunkerParams, CutState } from '../cdc/types.js';
import { giveBack, isLent } from '../lend.js';
import type { TarToken } from '../tar/types.js';
import { BufferPool } from './buffer-pool.js';
import type { ChunkedToken } from './tokens.js';

/** Options of {@link createBodyChunker}. */
export interface BodyChunkerOptions {
  /** The cut-point kernel (WebAssembly or JS), or a promise of one. */
  kernel: CdcKernel | Promise<CdcKernel>;
  /** Validated chunk size bounds. */
  params: ChunkerParams;
  /**
   * Where chunk buffers come from; give them back once done with them (the chunk writer does).
   * @default a fresh pool of `params.max`-byte buffers
   */
  pool?: BufferPool;
}

/**
 * Creates the stream that turns tar tokens into header, chunk, end and tail tokens. Every
 * chunk is copied once into a buffer from the pool, so input pieces are released as soon as
 * they are cut. Memory is bounded by `params.max` times the chunks in flight.
 *
 * @param options - kernel and chunk size bounds.
 * @returns a `TransformStream` from {@link TarToken}s to {@link ChunkedToken}s.
 */
export function createBodyChunker(
  options: BodyChunkerOptions,
): TransformStream<TarToken, ChunkedToken> {
  const { params } = options;
  const pool = options.pool ?? new BufferPool(params.max);
  let kernel: CdcKernel;
  let state: CutState = { pos: 0, hash: 0 };
  /** The open chunk: its buffer and how much of it is filled. */
  let open: Uint8Array | undefined;
  let filled = 0;
  /** Bytes of the current body not yet seen (unknown in the tail: Infinity). */
  let bodyLeft = 0;
  let inTail = false;
  const cuts: number[] = [];
  /**
   * The lent buffer behind the last input piece. Every stage before this one is done with a
   * piece before it passes on the next, and this stage copies what it keeps, so once a piece of
   * another lent buffer arrives, this one can go back to its source (see {@link giveBack}).
   */
  let input: ArrayBufferLike | undefined;
  const nextInput = (view: Uint8Array) => {
    // Only a lent buffer marks a position in the input: the tokenizer also emits views of its
    // own buffers (padding that straddled two pieces, empty padding) between pieces of one.
    if (view.buffer === input || !isLent(view.buffer)) return;
    if (input) giveBack(input);
    input = view.buffer;
  };

  const append = (bytes: Uint8Array) => {
    // A chunk never outgrows its body: size the buffer for what is left of it.
    open ??= pool.take(Math.min(params.max, bodyLeft));
    open.set(bytes, filled);
    filled += bytes.length;
    bodyLeft -= bytes.length;
  };
  const emit = (controller: TransformStreamDefaultController<ChunkedToken>) => {
    if (!open || filled === 0) return;
    controller.enqueue({ type: 'chunk', bytes: open.subarray(0, filled) });
    open = undefined;
    filled = 0;
  };

  const cut = (bytes: Uint8Array, controller: TransformStreamDefaultController<ChunkedToken>) => {
    cuts.length = 0;
    state = kernel.findCuts(params, state, bytes, cuts);
    let start = 0;
    for (const c of cuts) {
      append(bytes.subarray(start, c));
      emit(controller);
      start = c;
    }
    if (start < bytes.length) append(bytes.subarray(start));
  };

  const finishBody = (controller: TransformStreamDefaultController<ChunkedToken>) => {
    emit(controller);
    state = { pos: 0, hash: 0 };
  };

  return new TransformStream<TarToken, ChunkedToken>(
    {
      async start() {
        kernel = await options.kernel;
      },
      transform(token, controller) {
        switch (token.type) {
          case 'header':
            bodyLeft = token.entry.bodySize;
            controller.enqueue(token);
            return;
          case 'body':
            nextInput(token.bytes);
            if (token.bytes.length) cut(token.bytes, controller);
            return;
          case 'end':
            nextInput(token.padding);
            finishBody(controller);
            // A copy: a view would pin its whole input piece until the record builder, far
            // downstream, is done with it.
            controller.enqueue({ type: 'end', padding: token.padding.slice() });
            return;
          case 'tail':
            nextInput(token.bytes);
            if (!inTail) {
              inTail = true;
              bodyLeft = Number.POSITIVE_INFINITY;
              controller.enqueue({ type: 'tail' });
            }
            if (token.bytes.length) cut(token.bytes, controller);
            return;
        }
      },
      flush(controller) {
        finishBody(controller);
        if (input) giveBack(input);
        input = undefined;
      },
    },
    undefined,
    // Room for the chunks of about one input piece, counted in bytes: the chunker can then copy
    // a piece out in one go and release it at once, instead of keeping it alive (long enough to
    // be promoted, and then linger as garbage) while slow stages drain its chunks one by one.
    {
      highWaterMark: 512 * 1024,
      size: tokenSize,
    },
  );
}

/**
 * What a token holds, roughly, in bytes: a chunk its bytes; a header its raw header bytes
 * (pax data up to `maxHeaderBytes`) and its pax attributes (global keywords included).
 */
function tokenSize(t: ChunkedToken): number {
  if (t.type === 'chunk') return t.bytes.byteLength;
  if (t.type !== 'header') return 512;
  let keys = 0;
  for (const _ in t.entry.pax) keys++;
  return 512 + t.raw.byteLength + 64 * keys;
}
