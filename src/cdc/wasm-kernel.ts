/**
 * The WebAssembly cut-point search: a thin wrapper over the instance built from
 * `assembly/kernel.ts`, which copies each piece into the module's memory (at most one fixed
 * window, 1 MiB, at a time) and reads back the cut offsets and the new state.
 *
 * @module
 */

import { WasmUnavailableError } from '../errors.js';
import { createGearTable } from './gear.js';
import { checkState } from './js-kernel.js';
import { cutConfig } from './params.js';
import type { CdcKernel, ChunkerParams, CutState } from './types.js';

/** The exports of the kernel module (see `assembly/kernel.ts`). */
interface KernelExports {
  memory: WebAssembly.Memory;
  gearPtr(): number;
  cutsPtr(): number;
  inputPtr(): number;
  windowSize(): number;
  statePos(): number;
  stateHash(): number;
  scan(
    len: number,
    pos: number,
    hash: number,
    min: number,
    avg: number,
    max: number,
    maskS: number,
    maskL: number,
  ): number;
}

const FUNCTIONS = [
  'gearPtr',
  'cutsPtr',
  'inputPtr',
  'windowSize',
  'statePos',
  'stateHash',
  'scan',
] as const;

/** Options of {@link createWasmKernel}. @internal */
export interface WasmKernelOptions {
  /**
   * Bytes handed to the module per call, at most the module's own window (1 MiB). Smaller
   * values only serve tests of the slicing.
   */
  window?: number;
}

/**
 * Wraps an instance of the kernel module as a {@link CdcKernel}, after checking its exports
 * and that its gear table equals the JS one.
 *
 * @internal
 * @param instance - An instance of `cdc.wasm`.
 * @param options - See {@link WasmKernelOptions}.
 * @returns The kernel.
 * @throws {@link WasmUnavailableError} when the instance is not a compatible kernel.
 */
export function createWasmKernel(
  instance: WebAssembly.Instance,
  options: WasmKernelOptions = {},
): CdcKernel {
  const x = instance.exports as Partial<KernelExports>;
  if (!(x.memory instanceof WebAssembly.Memory)) {
    throw new WasmUnavailableError('CDC kernel module does not export its memory');
  }
  for (const name of FUNCTIONS) {
    if (typeof x[name] !== 'function') {
      throw new WasmUnavailableError(`CDC kernel module does not export function ${name}()`);
    }
  }
  const k = x as KernelExports;
  const window = Math.min(options.window ?? Number.POSITIVE_INFINITY, k.windowSize() >>> 0);
  if (!(window >= 1)) {
    throw new WasmUnavailableError(`CDC kernel window must be at least 1 byte, got ${window}`);
  }
  const memory = k.memory;
  const inputPtr = k.inputPtr() >>> 0;
  const cutsIndex = (k.cutsPtr() >>> 0) / 4;
  const gearIndex = (k.gearPtr() >>> 0) / 4;
  const end = inputPtr + window;
  if (
    !Number.isInteger(cutsIndex) ||
    !Number.isInteger(gearIndex) ||
    end > memory.buffer.byteLength
  ) {
    throw new WasmUnavailableError('CDC kernel module has an unexpected memory layout');
  }
  const gear = new Uint32Array(memory.buffer, gearIndex * 4, 256);
  const expected = createGearTable();
  for (let i = 0; i < 256; i++) {
    if (gear[i] !== expected[i]) {
      throw new WasmUnavailableError(`CDC kernel module has a different gear table (entry ${i})`);
    }
  }

  let buffer = memory.buffer;
  let u8 = new Uint8Array(buffer);
  let u32 = new Uint32Array(buffer);

  function findCuts(
    params: ChunkerParams,
    state: CutState,
    bytes: Uint8Array,
    cuts: number[],
  ): CutState {
    const c = cutConfig(params);
    checkState(state, c);
    if (memory.buffer !== buffer) {
      // The module never grows its memory, but stay correct if someone else did.
      buffer = memory.buffer;
      u8 = new Uint8Array(buffer);
      u32 = new Uint32Array(buffer);
    }
    const skip = c.min - 32;
    let pos = state.pos;
    let hash = pos <= skip ? 0 : state.hash;
    for (let off = 0; off < bytes.length; off += window) {
      const len = Math.min(window, bytes.length - off);
      if (pos + len <= skip) {
        // Nothing in this slice is hashed: no need to copy it in.
        pos += len;
        continue;
      }
      u8.set(bytes.subarray(off, off + len), inputPtr);
      const n = k.scan(len, pos, hash, c.min, c.avg, c.max, c.maskS, c.maskL) >>> 0;
      for (let i = 0; i < n; i++) cuts.push(off + u32[cutsIndex + i]!);
      pos = k.statePos() >>> 0;
      hash = k.stateHash() >>> 0;
    }
    return { pos, hash };
  }

  return Object.freeze({ name: 'wasm' as const, findCuts });
}
