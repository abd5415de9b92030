/**
 * A small stateful helper over a {@link CdcKernel} for one body at a time. Stream-free: the
 * pipeline may use it, or call `kernel.findCuts` directly with a fresh `{ pos: 0, hash: 0 }`
 * state per file body.
 *
 * @module
 */

import { cutConfig } from './params.js';
import type { CdcKernel, ChunkerParams, CutState } from './types.js';

/** Finds the cut points of one body fed in pieces. Create with {@link createCutter}. */
export interface Cutter {
  /**
   * Scans the next piece of the current body.
   *
   * @param bytes - The piece; not retained.
   * @returns Offsets within `bytes` (exclusive ends, ascending) where chunks end. An offset
   * equal to `bytes.length` means a chunk ends exactly at the end of the piece.
   */
  push(bytes: Uint8Array): number[];
  /**
   * Bytes of the open chunk: pushed since the last cut (or since the last reset). At the end
   * of a body, a non-zero value is the length of its last chunk.
   */
  readonly pending: number;
  /** Starts a new body: forgets the open chunk. Call between file bodies. */
  reset(): void;
}

/**
 * Creates a {@link Cutter}: the kernel plus the state carried between pieces of one body.
 *
 * @param kernel - The kernel to scan with (from `loadCdcKernel()` or `jsKernel`).
 * @param params - Chunker parameters; validated here.
 * @returns A cutter positioned at the start of a body.
 * @throws {@link ChunkerParamsError} when `params` are invalid.
 * @example
 * ```ts
 * const cutter = createCutter(await loadCdcKernel(), DEFAULT_CHUNKER_PARAMS);
 * for (const piece of body) {
 *   for (const end of cutter.push(piece)) emitChunkEndingAt(piece, end);
 * }
 * if (cutter.pending > 0) emitLastChunk();
 * cutter.reset();
 * ```
 */
export function createCutter(kernel: CdcKernel, params: ChunkerParams): Cutter {
  const fixed: ChunkerParams = { min: params.min, avg: params.avg, max: params.max };
  cutConfig(fixed);
  let state: CutState = { pos: 0, hash: 0 };
  return {
    push(bytes) {
      const cuts: number[] = [];
      state = kernel.findCuts(fixed, state, bytes, cuts);
      return cuts;
    },
    get pending() {
      return state.pos;
    },
    reset() {
      state = { pos: 0, hash: 0 };
    },
  };
}
