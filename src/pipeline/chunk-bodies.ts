/**
 * Cuts every entry body (and the tail) of a tokenized tar into content-defined chunks. Chunk
 * boundaries restart at each body, so a file's chunks do not depend on what precedes it.
 *
 * @module
 */
import type { CdcKernel, ChunkerParams, CutState } from '../cdc/types.js';
import type { TarToken } from '../tar/types.js';
import type { ChunkedToken } from './tokens.js';

/** Options of {@link createBodyChunker}. */
export interface BodyChunkerOptions {
  /** The cut-point kernel (WebAssembly or JS), or a promise of one. */
  kernel: CdcKernel | Promise<CdcKernel>;
  /** Validated chunk size bounds. */
  params: ChunkerParams;
}

/**
 * Creates the stream that turns tar tokens into header, chunk, end and tail tokens. A chunk
 * that lies inside one input piece is a view of it; one that spans pieces is copied once.
 * Memory is bounded by `params.max`.
 *
 * @param options - kernel and chunk size bounds.
 * @returns a `TransformStream` from {@link TarToken}s to {@link ChunkedToken}s.
 */
export function createBodyChunker(
  options: BodyChunkerOptions,
): TransformStream<TarToken, ChunkedToken> {
  const { params } = options;
  let kernel: CdcKernel;
  let state: CutState = { pos: 0, hash: 0 };
  let parts: Uint8Array[] = [];
  let partsLen = 0;
  let inTail = false;
  const cuts: number[] = [];

  const joinWith = (last: Uint8Array): Uint8Array => {
    if (partsLen === 0) return last;
    const out = new Uint8Array(partsLen + last.length);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    out.set(last, at);
    parts = [];
    partsLen = 0;
    return out;
  };

  const cut = (bytes: Uint8Array, controller: TransformStreamDefaultController<ChunkedToken>) => {
    cuts.length = 0;
    state = kernel.findCuts(params, state, bytes, cuts);
    let start = 0;
    for (const c of cuts) {
      controller.enqueue({ type: 'chunk', bytes: joinWith(bytes.subarray(start, c)) });
      start = c;
    }
    if (start < bytes.length) {
      parts.push(bytes.subarray(start));
      partsLen += bytes.length - start;
    }
  };

  const finishBody = (controller: TransformStreamDefaultController<ChunkedToken>) => {
    if (partsLen > 0) controller.enqueue({ type: 'chunk', bytes: joinWith(new Uint8Array(0)) });
    state = { pos: 0, hash: 0 };
  };

  return new TransformStream<TarToken, ChunkedToken>({
    async start() {
      kernel = await options.kernel;
    },
    transform(token, controller) {
      switch (token.type) {
        case 'header':
          controller.enqueue(token);
          return;
        case 'body':
          if (token.bytes.length) cut(token.bytes, controller);
          return;
        case 'end':
          finishBody(controller);
          controller.enqueue(token);
          return;
        case 'tail':
          if (!inTail) {
            inTail = true;
            controller.enqueue({ type: 'tail' });
          }
          if (token.bytes.length) cut(token.bytes, controller);
          return;
      }
    },
    flush(controller) {
      finishBody(controller);
    },
  });
}
