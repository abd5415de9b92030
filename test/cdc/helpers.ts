import { createGearTable } from '../../src/cdc/gear.js';
import { loadCdcKernel } from '../../src/cdc/kernel.js';
import { cutConfig } from '../../src/cdc/params.js';
import type { CdcKernel, ChunkerParams, CutState } from '../../src/cdc/types.js';
import { CDC_WASM_BASE64 } from '../../src/cdc/wasm-bytes.generated.js';
import { pseudoRandom } from '../helpers/bytes.js';

/** The embedded kernel module's bytes. */
export function wasmBytes(): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(CDC_WASM_BASE64), (c) => c.charCodeAt(0));
}

/** The WebAssembly kernel; fails the test if it cannot load. */
export function wasmKernel(): Promise<CdcKernel> {
  return loadCdcKernel({ fallback: false });
}

/** Deterministic bytes from xorshift32 (`seed` must be non-zero). */
export function xorshiftBytes(length: number, seed: number): Uint8Array {
  return pseudoRandom(length, seed, 'high');
}

/** Runs `kernel` over `data` cut into pieces ending at `splits`; returns absolute cut offsets. */
export function cutsOf(
  kernel: CdcKernel,
  params: ChunkerParams,
  data: Uint8Array,
  splits: readonly number[] = [],
): { cuts: number[]; state: CutState } {
  const bounds = [...new Set([0, ...splits.filter((s) => s > 0 && s < data.length), data.length])];
  bounds.sort((a, b) => a - b);
  const cuts: number[] = [];
  let state: CutState = { pos: 0, hash: 0 };
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!;
    const piece: number[] = [];
    state = kernel.findCuts(params, state, data.subarray(start, bounds[i + 1]!), piece);
    for (const c of piece) cuts.push(start + c);
  }
  return { cuts, state };
}

/** Chunk lengths of the whole body, including a non-empty last chunk. */
export function lengthsOf(cuts: readonly number[], total: number): number[] {
  const lengths: number[] = [];
  let prev = 0;
  for (const c of cuts) {
    lengths.push(c - prev);
    prev = c;
  }
  if (prev < total) lengths.push(total - prev);
  return lengths;
}

/**
 * The specification in `src/cdc/params.ts`, written as plainly as possible: every byte is
 * hashed from the start of its chunk (no skipping), one byte at a time.
 */
export function referenceCuts(params: ChunkerParams, data: Uint8Array): number[] {
  const gear = createGearTable();
  const { min, avg, max, maskS, maskL } = cutConfig(params);
  const cuts: number[] = [];
  let pos = 0;
  let hash = 0;
  for (let i = 0; i < data.length; i++) {
    pos += 1;
    hash = ((hash << 1) + gear[data[i]!]!) >>> 0;
    const cut =
      pos === max ||
      (pos >= min && pos < avg && (hash & maskS) >>> 0 === 0) ||
      (pos >= avg && pos < max && (hash & maskL) >>> 0 === 0);
    if (cut) {
      cuts.push(i + 1);
      pos = 0;
      hash = 0;
    }
  }
  return cuts;
}
