/**
 * Types shared by the content-defined chunking pieces.
 *
 * @module
 */

/** Chunk size bounds in bytes. Recorded in every index, since cut points depend on them. */
export interface ChunkerParams {
  /** No chunk is shorter than this, except the last chunk of a body. @default 16384 */
  min: number;
  /** Target average chunk size; a power of two. @default 65536 */
  avg: number;
  /** No chunk is longer than this. @default 262144 */
  max: number;
}

/** Scanning state carried from one piece of a body to the next. */
export interface CutState {
  /** Bytes of the current (open) chunk seen so far. */
  pos: number;
  /** Rolling gear hash, an unsigned 32-bit integer. */
  hash: number;
}

/** A cut-point search implementation: the WebAssembly kernel or the JS fallback. Both give identical cuts. */
export interface CdcKernel {
  /** Which implementation this is. */
  readonly name: 'wasm' | 'js';
  /**
   * Scans `bytes`, continuing from `state`, and appends to `cuts` the offset (within `bytes`,
   * exclusive end) of every chunk that ends inside this piece. Returns the state after the
   * last byte. Pure apart from appending to `cuts`: the same body gives the same cuts however
   * it is split into pieces.
   */
  findCuts(params: ChunkerParams, state: CutState, bytes: Uint8Array, cuts: number[]): CutState;
}
