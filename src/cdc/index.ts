/**
 * Content-defined chunking: the `fastcdc-gear32-v1` cut-point search (pure, stream-free),
 * a WebAssembly kernel with a JS fallback, and their loader.
 *
 * @module
 */

export { type Cutter, createCutter } from './cutter.js';
export { createGearTable, GEAR_SEED } from './gear.js';
export { jsKernel } from './js-kernel.js';
export { type LoadCdcKernelOptions, loadCdcKernel } from './kernel.js';
export {
  CDC_ALGORITHM,
  DEFAULT_CHUNKER_PARAMS,
  MAX_CHUNK_MAX,
  MIN_CHUNK_MIN,
  validateChunkerParams,
} from './params.js';
export type { CdcKernel, ChunkerParams, CutState } from './types.js';
