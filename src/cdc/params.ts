/**
 * The `fastcdc-gear32-v1` chunking algorithm: its identifier, parameters and their validation.
 *
 * ## Specification
 *
 * Cut points are part of the on-disk format: this definition must never change. A new
 * behaviour needs a new {@link CDC_ALGORITHM} identifier.
 *
 * Each file body is chunked on its own, starting from the state `{ pos: 0, hash: 0 }`. For
 * every byte `b` of the body, in order:
 *
 * 1. `pos += 1; hash = ((hash << 1) + GEAR[b]) >>> 0` (GEAR: see `createGearTable()` in
 *    `gear.ts`). `pos` is the length the open chunk would have if it ended after `b`.
 * 2. If `pos < min`: no cut.
 *    If `min <= pos < avg`: cut when `(hash & MASK_S) === 0`.
 *    If `avg <= pos < max`: cut when `(hash & MASK_L) === 0`.
 *    If `pos === max`: cut.
 * 3. After a cut, `pos = 0` and `hash = 0`.
 *
 * The bytes after the last cut form the last chunk (empty when the body ends on a cut; then
 * there is no last chunk). So every chunk is `min..max` bytes long except the last one.
 *
 * The masks are normalized chunking level 2, with their one-bits contiguous at the *top* of
 * the 32-bit hash (bit `k` of a left-shifting gear hash depends on the last `k + 1` bytes,
 * so the top bits depend on the most bytes):
 *
 * - `MASK_S` (strict): the top `log2(avg) + 2` bits, e.g. `0xffffc000` for avg = 64 KiB.
 * - `MASK_L` (loose): the top `log2(avg) - 2` bits, e.g. `0xfffc0000` for avg = 64 KiB.
 *
 * The kernels do not hash the first `min - 32` bytes of a chunk (they keep `hash = 0` while
 * `pos <= min - 32`). This gives identical cuts: shifting left 32 times clears a 32-bit word,
 * so the hash after byte `n` depends only on the last 32 bytes whenever `n >= 32`, and no cut
 * is checked before `pos = min >= 64`. The `hash` of a {@link CutState} therefore is the gear
 * hash of the open chunk's bytes from position `min - 32` on (`0` before that); both kernels
 * return exactly that value.
 *
 * @module
 */

import { ChunkerParamsError } from '../errors.js';
import type { ChunkerParams } from './types.js';

/** Identifier of the chunking algorithm specified in this module; recorded in every index. */
export const CDC_ALGORITHM = 'fastcdc-gear32-v1';

/** Smallest allowed `min`, in bytes. */
export const MIN_CHUNK_MIN = 64;

/** Largest allowed `max`, in bytes (16 MiB). */
export const MAX_CHUNK_MAX = 16 * 1024 * 1024;

/**
 * The default parameters: 16 KiB / 64 KiB / 256 KiB, as puzzlefs uses.
 *
 * @example
 * ```ts
 * const params = { ...DEFAULT_CHUNKER_PARAMS, avg: 128 * 1024 };
 * ```
 */
export const DEFAULT_CHUNKER_PARAMS: Readonly<ChunkerParams> = Object.freeze({
  min: 16 * 1024,
  avg: 64 * 1024,
  max: 256 * 1024,
});

/**
 * Checks chunker parameters: all three integers, `avg` a power of two, and
 * `64 <= min < avg < max <= 16 MiB`.
 *
 * @param params - The parameters to check (an unknown value is accepted, for parsed input).
 * @returns `params`, typed, when valid.
 * @throws {@link ChunkerParamsError} (`ERR_CHUNKER_PARAMS`) naming the offending field.
 * @example
 * ```ts
 * validateChunkerParams({ min: 4096, avg: 16384, max: 65536 }); // ok
 * validateChunkerParams({ min: 4096, avg: 10000, max: 65536 }); // throws: avg not a power of two
 * ```
 */
export function validateChunkerParams(params: unknown): ChunkerParams {
  if (typeof params !== 'object' || params === null) {
    throw new ChunkerParamsError(`chunker params must be an object, got ${describe(params)}`);
  }
  const { min, avg, max } = params as Record<string, unknown>;
  for (const [name, value] of [
    ['min', min],
    ['avg', avg],
    ['max', max],
  ] as const) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new ChunkerParamsError(`chunker ${name} must be an integer, got ${describe(value)}`);
    }
  }
  const p = { min, avg, max } as ChunkerParams;
  if (p.min < MIN_CHUNK_MIN) {
    throw new ChunkerParamsError(`chunker min must be at least ${MIN_CHUNK_MIN}, got ${p.min}`);
  }
  if (p.max > MAX_CHUNK_MAX) {
    throw new ChunkerParamsError(`chunker max must be at most ${MAX_CHUNK_MAX}, got ${p.max}`);
  }
  if ((p.avg & (p.avg - 1)) !== 0 || p.avg <= 0) {
    throw new ChunkerParamsError(`chunker avg must be a power of two, got ${p.avg}`);
  }
  if (!(p.min < p.avg && p.avg < p.max)) {
    throw new ChunkerParamsError(
      `chunker params must satisfy min < avg < max, got min=${p.min} avg=${p.avg} max=${p.max}`,
    );
  }
  return params as ChunkerParams;
}

/** Validated parameters plus the two masks; what a kernel's inner loop needs. @internal */
export interface CutConfig {
  min: number;
  avg: number;
  max: number;
  /** Strict mask (as an unsigned 32-bit number): top `log2(avg) + 2` bits. */
  maskS: number;
  /** Loose mask (as an unsigned 32-bit number): top `log2(avg) - 2` bits. */
  maskL: number;
}

/**
 * Validates `params` and derives the masks.
 *
 * @internal
 * @param params - Chunker parameters.
 * @returns The kernel configuration.
 * @throws {@link ChunkerParamsError} when `params` are invalid.
 */
export function cutConfig(params: ChunkerParams): Readonly<CutConfig> {
  // Kernels ask once per piece of input, nearly always with the same values: the last
  // configuration is reused while they stay the same (compared by value, not by object).
  const last = lastConfig;
  if (
    last &&
    params !== null &&
    typeof params === 'object' &&
    params.min === last.min &&
    params.avg === last.avg &&
    params.max === last.max
  ) {
    return last;
  }
  const { min, avg, max } = validateChunkerParams(params);
  const bits = 31 - Math.clz32(avg);
  lastConfig = Object.freeze({ min, avg, max, maskS: topBits(bits + 2), maskL: topBits(bits - 2) });
  return lastConfig;
}

/** The configuration {@link cutConfig} made last. */
let lastConfig: Readonly<CutConfig> | undefined;

/** An unsigned 32-bit mask of the top `n` bits, `1 <= n <= 32`. */
function topBits(n: number): number {
  return (0xffffffff << (32 - n)) >>> 0;
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}
