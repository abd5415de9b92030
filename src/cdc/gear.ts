/**
 * The gear table of `fastcdc-gear32-v1`: 256 pseudo-random unsigned 32-bit values, one per
 * byte value, generated (not pasted) so that the JS and WebAssembly kernels provably share it.
 *
 * @module
 */

/** Seed of the gear-table generator: the ASCII bytes `"LDIF"`. Part of the on-disk format. */
export const GEAR_SEED = 0x4c444946;

/**
 * Computes the gear table: `GEAR[i] = fmix32(GEAR_SEED + (i + 1) * 0x9e3779b9)` for
 * `i = 0..255`, all arithmetic modulo 2^32, where `fmix32` is the murmur3 finalizer
 * (`z ^= z >>> 16; z *= 0x85ebca6b; z ^= z >>> 13; z *= 0xc2b2ae35; z ^= z >>> 16`).
 * That is "splitmix32": a Weyl sequence passed through a bijective mixer, so all 256 values
 * are distinct. `assembly/kernel.ts` computes the same table at instantiation.
 *
 * @returns A fresh table; callers may keep it.
 * @example
 * ```ts
 * const gear = createGearTable();
 * gear.length; // 256
 * ```
 */
export function createGearTable(): Uint32Array {
  const table = new Uint32Array(256);
  let weyl = GEAR_SEED;
  for (let i = 0; i < 256; i++) {
    weyl = (weyl + 0x9e3779b9) >>> 0;
    let z = weyl;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    table[i] = z;
  }
  return table;
}
