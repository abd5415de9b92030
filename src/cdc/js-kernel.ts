/**
 * The plain-JavaScript cut-point search: used where WebAssembly cannot be compiled (workerd)
 * and as the reference the WebAssembly kernel is tested against.
 *
 * @module
 */

import { UsageError } from '../errors.js';
import { createGearTable } from './gear.js';
import { type CutConfig, cutConfig } from './params.js';
import type { CdcKernel, ChunkerParams, CutState } from './types.js';

// The same bits as the gear table, read as int32 so the loop stays in 32-bit integer ops.
const GEAR = new Int32Array(createGearTable().buffer);

/**
 * Checks a carried {@link CutState} against the parameters it is used with.
 *
 * @internal
 * @param state - The state passed to `findCuts`.
 * @param config - The validated parameters.
 * @throws {@link UsageError} when `pos` is not an integer in `[0, max)` or `hash` is not a
 * 32-bit unsigned integer.
 */
export function checkState(state: CutState, config: CutConfig): void {
  const { pos, hash } = state;
  if (!Number.isInteger(pos) || pos < 0 || pos >= config.max) {
    throw new UsageError(`CDC state pos must be an integer in [0, ${config.max}), got ${pos}`);
  }
  if (!Number.isInteger(hash) || hash < 0 || hash > 0xffffffff) {
    throw new UsageError(`CDC state hash must be an unsigned 32-bit integer, got ${hash}`);
  }
}

/**
 * Scans `bytes[start..end)`; the shared inner routine of the JS kernel. Mirrors `scan()` in
 * `assembly/kernel.ts` step for step. Pushes cut offsets relative to `bytes`.
 *
 * @internal
 */
function scan(
  c: CutConfig,
  pos: number,
  hash: number,
  bytes: Uint8Array,
  cuts: number[],
): CutState {
  const gear = GEAR;
  const { min, avg, max } = c;
  const maskS = c.maskS | 0;
  const maskL = c.maskL | 0;
  const skip = min - 32;
  const end = bytes.length;
  let p = 0;
  let h = pos <= skip ? 0 : hash | 0;
  while (p < end) {
    // 1. Bytes before chunk position min-32 cannot influence any checked hash: skip them.
    if (pos < skip) {
      const k = skip - pos;
      if (end - p <= k) {
        pos += end - p;
        break;
      }
      p += k;
      pos = skip;
      h = 0;
    }
    // 2. Hash up to chunk length min-1 without checking.
    if (pos < min - 1) {
      let stop = p + (min - 1 - pos);
      if (stop > end) stop = end;
      const start = p;
      for (; p < stop; p++) h = ((h << 1) + gear[bytes[p]!]!) | 0;
      pos += p - start;
      if (p === end) break;
    }
    let cut = false;
    // 3. Chunk lengths min .. avg-1: strict mask.
    if (pos < avg - 1) {
      let stop = p + (avg - 1 - pos);
      if (stop > end) stop = end;
      const start = p;
      while (p < stop) {
        h = ((h << 1) + gear[bytes[p]!]!) | 0;
        p++;
        if ((h & maskS) === 0) {
          cut = true;
          break;
        }
      }
      pos += p - start;
      if (!cut && p === end) break;
    }
    // 4. Chunk lengths avg .. max: loose mask; forced cut at max.
    if (!cut) {
      let stop = p + (max - pos);
      if (stop > end) stop = end;
      const start = p;
      while (p < stop) {
        h = ((h << 1) + gear[bytes[p]!]!) | 0;
        p++;
        if ((h & maskL) === 0) {
          cut = true;
          break;
        }
      }
      pos += p - start;
      if (pos === max) cut = true;
    }
    if (cut) {
      cuts.push(p);
      pos = 0;
      h = 0;
    }
  }
  return { pos, hash: pos <= skip ? 0 : h >>> 0 };
}

/**
 * The JavaScript {@link CdcKernel}: always available, gives the same cuts as the WebAssembly
 * kernel. Validates `params` and `state` on every call.
 *
 * @example
 * ```ts
 * const cuts: number[] = [];
 * let state = { pos: 0, hash: 0 };
 * for (const piece of body) state = jsKernel.findCuts(DEFAULT_CHUNKER_PARAMS, state, piece, cuts);
 * ```
 */
export const jsKernel: CdcKernel = Object.freeze({
  name: 'js' as const,
  findCuts(params: ChunkerParams, state: CutState, bytes: Uint8Array, cuts: number[]): CutState {
    const config = cutConfig(params);
    checkState(state, config);
    return scan(config, state.pos, state.hash, bytes, cuts);
  },
});
