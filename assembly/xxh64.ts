/**
 * XXH64's stripe loop (AssemblyScript → WebAssembly), for `src/hash/xxh64.ts`: the part of
 * the hash that touches every byte, in native 64-bit arithmetic, where the JS version works
 * on pairs of 32-bit halves at a fifth of the speed. The rest of XXH64 (a partial stripe,
 * the final mix) stays in JS. Compiled by `scripts/build-wasm.mjs` into its own module; it is
 * not part of the TypeScript build.
 *
 * Linear memory: the four accumulators (4 × u64, little-endian) at `statePtr()`, then, from
 * `heapBase()`, the input, which the host copies in and sizes with `memory.grow`. The host
 * loads the accumulators before a call and reads them back after it, so one instance serves
 * any number of hashes.
 */

// From 32-bit halves: a 64-bit literal would read as an inexact number to JS tooling.
const P1: u64 = ((<u64>0x9e3779b1) << 32) | 0x85ebca87;
const P2: u64 = ((<u64>0xc2b2ae3d) << 32) | 0x27d4eb4f;

const STATE: usize = memory.data(32, 8);

/** Where the four accumulators are. */
export function statePtr(): usize {
  return STATE;
}

/** Start of the memory the host manages (the input). */
export function heapBase(): usize {
  return __heap_base;
}

// Small enough that binaryen inlines it at -O3.
function round(acc: u64, lane: u64): u64 {
  return rotl<u64>(acc + lane * P2, 31) * P1;
}

/**
 * Runs XXH64's rounds over the 32-byte stripes of `len` bytes at `src` (`len` a multiple of
 * 32), on the accumulators at `statePtr()`. Parameters are trusted (checked by the host).
 */
export function stripes(src: usize, len: u32): void {
  let v1 = load<u64>(STATE);
  let v2 = load<u64>(STATE, 8);
  let v3 = load<u64>(STATE, 16);
  let v4 = load<u64>(STATE, 24);
  const end = src + <usize>len;
  for (let p = src; p < end; p += 32) {
    v1 = round(v1, load<u64>(p));
    v2 = round(v2, load<u64>(p, 8));
    v3 = round(v3, load<u64>(p, 16));
    v4 = round(v4, load<u64>(p, 24));
  }
  store<u64>(STATE, v1);
  store<u64>(STATE, v2, 8);
  store<u64>(STATE, v3, 16);
  store<u64>(STATE, v4, 24);
}
