/**
 * layerdiff CDC kernel (AssemblyScript → WebAssembly), algorithm `fastcdc-gear32-v1`.
 *
 * This file is compiled by `scripts/build-wasm.mjs`; it is not part of the TypeScript build.
 * The algorithm is specified in `src/cdc/params.ts` and mirrored step for step by
 * `src/cdc/js-kernel.ts` (which rolls one byte per loop turn where this kernel unrolls four);
 * the two must give identical cuts and states (the tests check this).
 *
 * Linear memory: three static regions reserved with `memory.data` (compile-time addresses;
 * the module's initial memory, 18 pages, holds them; nothing is allocated or grown later):
 *
 * ```
 * GEAR: 256 × u32 | CUTS: CUTS_CAP × u32 | INPUT: WINDOW bytes
 * ```
 *
 * The host copies up to `WINDOW` bytes to `inputPtr()`, calls `scan()`, reads the returned
 * number of cut offsets from `cutsPtr()` and the new state from `statePos()`/`stateHash()`.
 */

/** Bytes scanned per `scan()` call at most. */
const WINDOW: u32 = 1 << 20;
/** Cut offsets one `scan()` can produce at most: one per `min` (>= 64) bytes, plus one. */
const CUTS_CAP: u32 = (WINDOW >> 6) + 1;

/** Seed of the gear-table generator; must equal `GEAR_SEED` in `src/cdc/gear.ts`. */
const GEAR_SEED: u32 = 0x4c444946; // "LDIF"

// Static regions: their addresses are compile-time constants, and the module's initial memory
// is sized to hold them, so nothing is allocated or grown at run time.
const GEAR: usize = memory.data(256 << 2, 64);
const CUTS: usize = memory.data((<i32>CUTS_CAP) << 2, 64);
const INPUT: usize = memory.data(<i32>WINDOW, 64);

// GEAR[i] = fmix32(GEAR_SEED + (i + 1) * 0x9e3779b9): the murmur3 finalizer over a Weyl
// sequence ("splitmix32"). Identical to `createGearTable()` in src/cdc/gear.ts.
let weyl: u32 = GEAR_SEED;
for (let i: u32 = 0; i < 256; i++) {
  weyl += 0x9e3779b9;
  let z = weyl;
  z = (z ^ (z >> 16)) * 0x85ebca6b;
  z = (z ^ (z >> 13)) * 0xc2b2ae35;
  z ^= z >> 16;
  store<u32>(GEAR + ((<usize>i) << 2), z);
}

let outPos: u32 = 0;
let outHash: u32 = 0;

/** Address of the 256-entry u32 gear table. */
export function gearPtr(): usize {
  return GEAR;
}

/** Address where `scan()` writes cut offsets (u32, relative to `inputPtr()`). */
export function cutsPtr(): usize {
  return CUTS;
}

/** Address where the host places the bytes to scan. */
export function inputPtr(): usize {
  return INPUT;
}

/** Largest `len` accepted by `scan()`. */
export function windowSize(): u32 {
  return WINDOW;
}

/** Chunk position after the last `scan()`. */
export function statePos(): u32 {
  return outPos;
}

/** Gear hash after the last `scan()`. */
export function stateHash(): u32 {
  return outHash;
}

// Small enough that binaryen inlines it at -O3 (no `@inline`, so the file stays plain TS syntax).
function gear(p: usize): u32 {
  return load<u32>(GEAR + ((<usize>load<u8>(p)) << 2));
}

/** The hash where {@link roll} stopped. */
let rolled: u32 = 0;

/**
 * Rolls hash `h` over the bytes from `p` to `stop` until a byte leaves `(h & mask) === 0`.
 * Returns the position after that byte, or `stop` when none does; the hash there is left in
 * `rolled`. Four bytes per loop turn: the per-byte loop's own compare and branch cost about a
 * sixth of the scan (the hash's dependency chain is not the limit: computing two or four
 * steps ahead from pre-shifted gear values was slower).
 */
function roll(p: usize, stop: usize, h: u32, mask: u32): usize {
  while (p + 4 <= stop) {
    h = (h << 1) + gear(p);
    if ((h & mask) === 0) {
      rolled = h;
      return p + 1;
    }
    h = (h << 1) + gear(p + 1);
    if ((h & mask) === 0) {
      rolled = h;
      return p + 2;
    }
    h = (h << 1) + gear(p + 2);
    if ((h & mask) === 0) {
      rolled = h;
      return p + 3;
    }
    h = (h << 1) + gear(p + 3);
    if ((h & mask) === 0) {
      rolled = h;
      return p + 4;
    }
    p += 4;
  }
  while (p < stop) {
    h = (h << 1) + gear(p);
    p++;
    if ((h & mask) === 0) break;
  }
  rolled = h;
  return p;
}

/**
 * Scans `len` bytes at `inputPtr()` continuing from chunk position `pos` and hash `h`.
 * Writes each cut offset (exclusive end, relative to `inputPtr()`) to `cutsPtr()` and returns
 * how many there were; the state after the last byte is left in `statePos()`/`stateHash()`.
 * Parameters are trusted (validated by the host).
 */
export function scan(
  len: u32,
  pos: u32,
  h: u32,
  min: u32,
  avg: u32,
  max: u32,
  maskS: u32,
  maskL: u32,
): u32 {
  let p: usize = INPUT;
  const end: usize = INPUT + <usize>len;
  const skip = min - 32;
  let ncuts: u32 = 0;
  if (pos <= skip) h = 0;
  while (p < end) {
    let left = <u32>(end - p);
    // 1. Bytes before chunk position min-32 cannot influence any checked hash: skip them.
    if (pos < skip) {
      const k = skip - pos;
      if (left <= k) {
        pos += left;
        break;
      }
      p += k;
      pos = skip;
      h = 0;
      left -= k;
    }
    // 2. Hash up to chunk length min-1 without checking.
    if (pos < min - 1) {
      let k = min - 1 - pos;
      if (k > left) k = left;
      const stop = p + k;
      while (p < stop) {
        h = (h << 1) + gear(p);
        p++;
      }
      pos += k;
      left -= k;
      if (left === 0) break;
    }
    let cut = false;
    // 3. Chunk lengths min .. avg-1: strict mask.
    if (pos < avg - 1) {
      let k = avg - 1 - pos;
      if (k > left) k = left;
      const start = p;
      p = roll(p, p + k, h, maskS);
      h = rolled;
      cut = (h & maskS) === 0;
      const done = <u32>(p - start);
      pos += done;
      left -= done;
      if (!cut && left === 0) break;
    }
    // 4. Chunk lengths avg .. max: loose mask; forced cut at max.
    if (!cut) {
      let k = max - pos;
      if (k > left) k = left;
      const start = p;
      p = roll(p, p + k, h, maskL);
      h = rolled;
      cut = (h & maskL) === 0;
      pos += <u32>(p - start);
      if (pos === max) cut = true;
    }
    if (cut) {
      store<u32>(CUTS + ((<usize>ncuts) << 2), <u32>(p - INPUT));
      ncuts++;
      pos = 0;
      h = 0;
    }
  }
  if (pos <= skip) h = 0;
  outPos = pos;
  outHash = h;
  return ncuts;
}
