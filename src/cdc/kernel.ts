/**
 * Loading the cut-point search: the embedded WebAssembly kernel where the runtime allows it,
 * the JS kernel otherwise.
 *
 * @module
 */

import { decodeBase64, instantiateWasm, type WasmSource } from '../wasm.js';
import { jsKernel } from './js-kernel.js';
import type { CdcKernel } from './types.js';
import { CDC_WASM_BASE64 } from './wasm-bytes.generated.js';
import { createWasmKernel } from './wasm-kernel.js';

/** Options of {@link loadCdcKernel}. */
export interface LoadCdcKernelOptions {
  /**
   * Which WebAssembly kernel to use:
   *
   * - `undefined`: the module embedded in this library (compiled once, then cached);
   * - a `WebAssembly.Module`: a precompiled `cdc.wasm`, e.g. what workerd gives for
   *   `import kernel from 'layerdiff/cdc.wasm'`; it is only instantiated, never compiled;
   * - bytes of `cdc.wasm` (an `ArrayBuffer` or a view of one, e.g. a `Uint8Array`): compiled
   *   and instantiated;
   * - `false`: no WebAssembly; the JS kernel.
   *
   * @default undefined
   */
  wasm?: WasmSource | false;
  /**
   * When the WebAssembly kernel cannot be loaded (for example workerd forbids compiling
   * WebAssembly from bytes), resolve to the JS kernel instead of rejecting.
   *
   * @default true
   */
  fallback?: boolean;
}

let embedded: Promise<CdcKernel> | undefined;

/**
 * Loads a {@link CdcKernel}. Both kernels give identical cuts; the WebAssembly one is several
 * times faster.
 *
 * @param options - See {@link LoadCdcKernelOptions}.
 * @returns The WebAssembly kernel, or the JS kernel when `wasm` is `false` or when loading
 * failed and `fallback` is on.
 * @throws {@link WasmUnavailableError} (`ERR_WASM_UNAVAILABLE`, as a rejection) when the
 * WebAssembly kernel cannot be loaded and `fallback` is `false`.
 * @example
 * ```ts
 * const kernel = await loadCdcKernel();
 * // In workerd, with `import wasm from 'layerdiff/cdc.wasm'`:
 * const kernel2 = await loadCdcKernel({ wasm });
 * ```
 */
export async function loadCdcKernel(options: LoadCdcKernelOptions = {}): Promise<CdcKernel> {
  const { wasm, fallback = true } = options;
  if (wasm === false) return jsKernel;
  let pending: Promise<CdcKernel>;
  if (wasm === undefined) {
    embedded ??= instantiate(decodeBase64(CDC_WASM_BASE64));
    pending = embedded;
  } else {
    pending = instantiate(wasm);
  }
  try {
    return await pending;
  } catch (error) {
    if (fallback) return jsKernel;
    throw error;
  }
}

async function instantiate(source: WasmSource): Promise<CdcKernel> {
  return createWasmKernel(await instantiateWasm(source, 'CDC WebAssembly kernel'));
}
