/**
 * layerdiff zstd block decoder (AssemblyScript → WebAssembly), for `src/compress/zstd-wasm.ts`.
 * Written from RFC 8878 (sections 3.1.1.2 to 4.2). Compiled by `scripts/build-wasm.mjs` into
 * its own module, `zstd.wasm`; it is not part of the TypeScript build.
 *
 * The host walks frames and blocks (`src/compress/zstd-walker.ts`: magic numbers, frame and
 * block headers, skippable frames, checksums) and hands this module one block at a time: it
 * calls `frame(windowSize)` at each frame's start, copies each block's body to `inputPtr()`
 * (a raw block's straight to the output instead), and calls `block(type, size, blockMax)`.
 * The output goes to a history buffer at `historyPtr()`, from `position()` before the call to
 * `position()` after it. The buffer is a ring of the window plus two blocks: when
 * `room()` is under one block, the host takes what it has not yet read and calls `wrap()`,
 * and output goes on from the buffer's start, while matches that reach back past it read the
 * end of the previous pass. Nothing is moved. `position()`, `room()` and `errorAt()` are u32:
 * JS reads them as signed numbers, so the host reads them with `>>> 0`.
 *
 * The input is hostile: every header field, table description, bit stream and sequence is
 * checked before use; a fault returns a negative code (the `E_*` constants below, which the
 * host names) and leaves the byte offset in the block where it was found in `errorAt()`.
 * Reads past the end of a bit stream land in slack bytes after each buffer and are masked off;
 * writes past a copy's end land in slack after the history buffer and are overwritten later.
 *
 * Linear memory: static tables and buffers reserved with `memory.data`, then, from
 * `historyPtr()`, the history buffer, sized per frame by `frame()` with `memory.grow` (it never
 * shrinks). Nothing is allocated at run time.
 */

const BLOCK_MAX: u32 = 128 * 1024;
/** Writable bytes after every buffer, for whole-word reads and writes past an end. */
const SLACK: u32 = 64;

/** The block being decoded (its body, as the host copied it). */
const INPUT: usize = memory.data(<i32>(BLOCK_MAX + SLACK), 64);
/** The literals of the block, when they are not read straight from the input. */
const LITERALS: usize = memory.data(<i32>(BLOCK_MAX + SLACK), 64);
/** Huffman decoding table: 2^12 u16 entries, symbol | bits << 8. */
const HUF: usize = memory.data(2 << 12, 64);
/** Huffman weights, one byte per symbol. */
const WEIGHTS: usize = memory.data(256 + 16, 16);
/** FSE decoding tables: u32 entries, symbol | bits << 8 | next state base << 16. */
const LL_TABLE: usize = memory.data(4 << 9, 64);
const OF_TABLE: usize = memory.data(4 << 8, 64);
const ML_TABLE: usize = memory.data(4 << 9, 64);
const WEIGHT_TABLE: usize = memory.data(4 << 6, 64);
/** Scratch for building FSE tables: normalized counts (i16) and next-state counters (u16). */
const NORM: usize = memory.data(2 * 256, 16);
const NEXT: usize = memory.data(2 * 256, 16);
/** Scratch for building the Huffman table: per weight, a count, then a next position (u32). */
const RANK: usize = memory.data(4 * 16, 16);

/** Literals_Length codes 0 to 35: baseline and extra bits (RFC 8878 section 3.1.1.3.2.1.1). */
const LL_BASE: usize = memory.data<u32>([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 28, 32, 40, 48, 64, 128,
  256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536,
]);
const LL_BITS: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12,
  13, 14, 15, 16,
]);
/** Match_Length codes 0 to 52: baseline and extra bits. */
const ML_BASE: usize = memory.data<u32>([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
  29, 30, 31, 32, 33, 34, 35, 37, 39, 41, 43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051,
  4099, 8195, 16387, 32771, 65539,
]);
const ML_BITS: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
  1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
]);
/** The predefined distributions (RFC 8878 section 3.1.1.3.2.2). */
const LL_DEFAULT: usize = memory.data<i16>([
  4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1,
  -1, -1, -1, -1,
]);
const ML_DEFAULT: usize = memory.data<i16>([
  1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1,
]);
// Codes 29 to 31 are valid (an FSE description may use them) but have no predefined share.
const OF_DEFAULT: usize = memory.data<i16>([
  1, 1, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, 0, 0,
  0,
]);

// Fault codes, named by the host (`src/compress/zstd-wasm.ts` lists the same).
const E_LITERALS_HEADER: i32 = -1;
const E_LITERALS_SIZE: i32 = -2;
const E_HUFFMAN_TREE: i32 = -3;
const E_NO_HUFFMAN_TREE: i32 = -4;
const E_HUFFMAN_STREAM: i32 = -5;
const E_SEQUENCES_HEADER: i32 = -6;
const E_FSE_TABLE: i32 = -7;
const E_NO_FSE_TABLE: i32 = -8;
const E_SEQUENCE_STREAM: i32 = -9;
const E_LITERALS_OVERRUN: i32 = -10;
const E_BLOCK_OVERRUN: i32 = -11;
const E_OFFSET: i32 = -12;
const E_TRAILING: i32 = -13;
const E_MEMORY: i32 = -14;

let windowSize: u32 = 0;
/** Bytes the history buffer holds, before its slack. */
let capacity: u32 = 0;
/** Where the next output byte goes in the history buffer. */
let pos: u32 = 0;
/**
 * Where the previous pass through the history buffer ended (0 before the first wrap): its
 * bytes from {@link pos} to here are the older part of the window.
 */
let tailEnd: u32 = 0;
/** Output of the current frame so far (how far back a match may reach, with the window). */
let produced: u64 = 0;
let rep1: u32 = 1;
let rep2: u32 = 4;
let rep3: u32 = 8;
/** Tables from an earlier block of the frame, for treeless literals and repeat modes. */
let hufLog: u32 = 0;
let llLog: i32 = -1;
let ofLog: i32 = -1;
let mlLog: i32 = -1;
let errorOffset: u32 = 0;
/** Accuracy log of the table the last `readTableDescription` read. */
let descLog: u32 = 0;

function history(): usize {
  return (__heap_base + 63) & ~(<usize>63);
}

/** Where the host copies a block's body. */
export function inputPtr(): usize {
  return INPUT;
}

/** Start of the history buffer. */
export function historyPtr(): usize {
  return history();
}

/** Where the next output byte goes, from {@link historyPtr}. */
export function position(): u32 {
  return pos;
}

/** Bytes left in the history buffer. */
export function room(): u32 {
  return capacity - pos;
}

/** The offset in the block where the last fault was found. */
export function errorAt(): u32 {
  return errorOffset;
}

function fail(code: i32, at: usize): i32 {
  errorOffset = <u32>(at - INPUT);
  return code;
}

/**
 * Starts a frame whose window is `size` bytes: forgets the last frame's tables and offsets,
 * and sizes the history buffer to the window plus two blocks. A pass through it ends when less
 * than a block is left, so it is more than the window and a block long: a match that reaches
 * back into the previous pass reads bytes more than a block ahead of anything the block being
 * decoded writes (its copies' stray bytes past their ends included, at most {@link SLACK}).
 * @returns 0, or {@link E_MEMORY} when memory cannot grow.
 */
export function frame(size: u32): i32 {
  windowSize = size;
  const extra: u32 = 2 * BLOCK_MAX;
  const need: u64 = <u64>history() + <u64>size + <u64>extra + SLACK;
  if (need > 0xffff0000) return E_MEMORY;
  const pages = <i32>((need + 0xffff) >> 16);
  const have = memory.size();
  if (pages > have && memory.grow(pages - have) < 0) return E_MEMORY;
  capacity = size + extra;
  pos = 0;
  tailEnd = 0;
  produced = 0;
  rep1 = 1;
  rep2 = 4;
  rep3 = 8;
  hufLog = 0;
  llLog = -1;
  ofLog = -1;
  mlLog = -1;
  return 0;
}

/** Starts the next pass through the history buffer, at its start. */
export function wrap(): void {
  tailEnd = pos;
  pos = 0;
}

/**
 * Decodes the block at {@link inputPtr}: `type` 0 raw (which the host has copied straight to
 * {@link position} instead), 1 RLE (one byte, repeated `size` times), 2 compressed (`size`
 * bytes). The host checks beforehand that `room()` is at least `blockMax` and that `size` does
 * not exceed it.
 * @returns the bytes produced, or a negative fault code.
 */
export function block(type: u32, size: u32, blockMax: u32): i32 {
  const out = history() + pos;
  let n: i32;
  if (type === 0) {
    n = <i32>size;
  } else if (type === 1) {
    memory.fill(out, load<u8>(INPUT), size);
    n = <i32>size;
  } else if (size === 0) {
    // An empty compressed block: libzstd skips it as it skips any empty block, so accept it.
    n = 0;
  } else {
    n = compressed(size, blockMax);
    if (n < 0) return n;
  }
  pos += <u32>n;
  produced += <u64>n;
  return n;
}

// ---- bit streams ------------------------------------------------------------------------------

/**
 * The `n` bits (n <= 32) of a backward bit stream at `base` that end at bit `at` (bits below
 * 0 read as zeros). Bit i is bit i % 8 of byte i / 8.
 */
function bitsBelow(base: usize, at: i32, n: u32): u32 {
  const start = at - <i32>n;
  if (start >= 0) {
    return (
      <u32>(load<u64>(base + <usize>(start >>> 3)) >> <u64>(start & 7)) & <u32>(((<u64>1) << n) - 1)
    );
  }
  if (at <= 0) return 0;
  return (<u32>load<u64>(base) & (((<u32>1) << (<u32>at)) - 1)) << (<u32>-start);
}

/**
 * The bit count of a backward bit stream of `len` bytes at `base`, below its end marker (the
 * highest set bit of its last byte), or -1 when the stream is empty or has no marker.
 */
function streamBits(base: usize, len: u32): i32 {
  if (len === 0) return -1;
  const last = <u32>load<u8>(base + len - 1);
  if (last === 0) return -1;
  return <i32>((len - 1) << 3) + (31 - <i32>clz(last));
}

// ---- FSE tables (RFC 8878 section 4.1) --------------------------------------------------------

/**
 * Reads an FSE table description from `[p, end)` into the normalized counts at {@link NORM}
 * (at most `maxSymbol + 1` of them) and its accuracy log into {@link descLog}.
 * @returns the bytes it took, or -1 when it is malformed.
 */
function readTableDescription(p: usize, end: usize, maxSymbol: u32, maxLog: u32): i32 {
  const avail = (<i32>(end - p)) << 3;
  if (avail < 8) return -1;
  let bit: i32 = 0;
  const log = (<u32>load<u8>(p) & 15) + 5;
  if (log > maxLog) return -1;
  bit = 4;
  let remaining: i32 = (1 << log) + 1;
  let threshold: i32 = 1 << log;
  let nb: i32 = <i32>log + 1;
  let symbol: u32 = 0;
  while (remaining > 1) {
    if (symbol > maxSymbol) return -1;
    const word = <u32>(load<u64>(p + <usize>(bit >>> 3)) >> <u64>(bit & 7));
    const max: i32 = 2 * threshold - 1 - remaining;
    let value: i32;
    const low = <i32>(word & ((1 << (<u32>(nb - 1))) - 1));
    if (low < max) {
      value = low;
      bit += nb - 1;
    } else {
      value = <i32>(word & ((1 << (<u32>nb)) - 1));
      if (value >= threshold) value -= max;
      bit += nb;
    }
    if (bit > avail) return -1;
    const count = value - 1;
    store<i16>(NORM + ((<usize>symbol) << 1), <i16>count);
    symbol++;
    remaining -= count < 0 ? -count : count;
    if (count === 0) {
      // Runs of zero counts: 2-bit repeat flags, 3 meaning another flag follows.
      let flag: u32 = 3;
      while (flag === 3) {
        if (bit + 2 > avail) return -1;
        flag = <u32>(load<u16>(p + <usize>(bit >>> 3)) >> <u16>(bit & 7)) & 3;
        bit += 2;
        if (symbol + flag > maxSymbol + 1) return -1;
        for (let k: u32 = 0; k < flag; k++) {
          store<i16>(NORM + ((<usize>symbol) << 1), 0);
          symbol++;
        }
      }
    }
    if (remaining < 1) return -1;
    while (remaining < threshold) {
      nb--;
      threshold >>= 1;
    }
  }
  if (remaining !== 1 || bit > avail) return -1;
  for (let s = symbol; s <= maxSymbol; s++) store<i16>(NORM + ((<usize>s) << 1), 0);
  descLog = log;
  return (bit + 7) >>> 3;
}

/**
 * Builds a decoding table at `table` from `symbols` normalized counts at `counts` with
 * accuracy log `log`.
 * @returns false when the counts do not fill the table exactly.
 */
function buildTable(table: usize, counts: usize, symbols: u32, log: u32): bool {
  const size: u32 = 1 << log;
  let high: u32 = size - 1;
  // Symbols of "less than 1" probability take the last cells, one each.
  for (let s: u32 = 0; s < symbols; s++) {
    const c = <i32>load<i16>(counts + ((<usize>s) << 1));
    if (c === -1) {
      store<u32>(table + ((<usize>high) << 2), s);
      high--;
      store<u16>(NEXT + ((<usize>s) << 1), 1);
    } else {
      store<u16>(NEXT + ((<usize>s) << 1), <u16>c);
    }
  }
  // The others are spread over the rest with the step of the format.
  const step: u32 = (size >> 1) + (size >> 3) + 3;
  const mask: u32 = size - 1;
  let at: u32 = 0;
  for (let s: u32 = 0; s < symbols; s++) {
    const c = <i32>load<i16>(counts + ((<usize>s) << 1));
    for (let k = 0; k < c; k++) {
      store<u32>(table + ((<usize>at) << 2), s);
      do {
        at = (at + step) & mask;
      } while (at > high);
    }
  }
  if (at !== 0) return false;
  for (let u: u32 = 0; u < size; u++) {
    const cell = table + ((<usize>u) << 2);
    const s = load<u32>(cell) & 0xff;
    const next = <u32>load<u16>(NEXT + ((<usize>s) << 1));
    store<u16>(NEXT + ((<usize>s) << 1), <u16>(next + 1));
    const bits = log - (31 - clz(next));
    store<u32>(cell, s | (bits << 8) | (((next << bits) - size) << 16));
  }
  return true;
}

/** A table of one symbol that reads no bits (RLE mode). */
function rleTable(table: usize, symbol: u32): void {
  store<u32>(table, symbol);
}

// ---- literals (RFC 8878 section 3.1.1.3.1) ---------------------------------------------------

/**
 * Reads a Huffman tree description at `[p, end)` and builds the decoding table at {@link HUF}.
 * @returns the bytes it took, or a fault code.
 */
function readHuffmanTree(p: usize, end: usize): i32 {
  if (p >= end) return fail(E_HUFFMAN_TREE, p);
  const header = <u32>load<u8>(p);
  let count: u32;
  let took: u32;
  if (header < 128) {
    // FSE-compressed weights: a table description, then two interleaved states.
    took = 1 + header;
    if (header === 0 || p + took > end) return fail(E_HUFFMAN_TREE, p);
    const start = p + 1;
    const stop = start + header;
    // Symbols up to 255 may be described; a weight over 12 is refused once decoded.
    const d = readTableDescription(start, stop, 255, 6);
    if (d < 0 || !buildTable(WEIGHT_TABLE, NORM, 256, descLog)) return fail(E_HUFFMAN_TREE, start);
    const log = descLog;
    const s = start + <usize>d;
    let at = streamBits(s, <u32>(stop - s));
    // Both initial states must be there in full (libzstd 1.5.7 checks this too).
    if (at < 2 * <i32>log) return fail(E_HUFFMAN_TREE, s);
    at -= <i32>log;
    let state1 = bitsBelow(s, at + <i32>log, log);
    at -= <i32>log;
    let state2 = bitsBelow(s, at + <i32>log, log);
    count = 0;
    // Until the stream runs out, alternately: emit a state's symbol, then update it; when an
    // update would read past the stream's start, the other state's symbol is the last.
    while (true) {
      if (count > 253) return fail(E_HUFFMAN_TREE, s);
      let e = load<u32>(WEIGHT_TABLE + ((<usize>state1) << 2));
      store<u8>(WEIGHTS + count++, <u8>e);
      let bits = (e >> 8) & 0xff;
      at -= <i32>bits;
      if (at < 0) {
        store<u8>(WEIGHTS + count++, <u8>load<u32>(WEIGHT_TABLE + ((<usize>state2) << 2)));
        break;
      }
      state1 = (e >> 16) + bitsBelow(s, at + <i32>bits, bits);
      if (count > 253) return fail(E_HUFFMAN_TREE, s);
      e = load<u32>(WEIGHT_TABLE + ((<usize>state2) << 2));
      store<u8>(WEIGHTS + count++, <u8>e);
      bits = (e >> 8) & 0xff;
      at -= <i32>bits;
      if (at < 0) {
        store<u8>(WEIGHTS + count++, <u8>load<u32>(WEIGHT_TABLE + ((<usize>state1) << 2)));
        break;
      }
      state2 = (e >> 16) + bitsBelow(s, at + <i32>bits, bits);
    }
  } else {
    // Direct: 4 bits a weight, the first in the high half of each byte.
    count = header - 127;
    took = 1 + ((count + 1) >> 1);
    if (p + took > end) return fail(E_HUFFMAN_TREE, p);
    for (let i: u32 = 0; i < count; i++) {
      const b = <u32>load<u8>(p + 1 + (i >> 1));
      store<u8>(WEIGHTS + i, <u8>(i & 1 ? b & 15 : b >> 4));
    }
  }
  if (count > 255) return fail(E_HUFFMAN_TREE, p);
  // The last symbol's weight is implied: it completes the total to a power of 2.
  for (let w: u32 = 0; w < 16; w++) store<u32>(RANK + ((<usize>w) << 2), 0);
  let total: u32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const w = <u32>load<u8>(WEIGHTS + i);
    if (w > 12) return fail(E_HUFFMAN_TREE, p);
    store<u32>(RANK + ((<usize>w) << 2), load<u32>(RANK + ((<usize>w) << 2)) + 1);
    total += w ? (<u32>1) << (w - 1) : 0;
  }
  if (total === 0) return fail(E_HUFFMAN_TREE, p);
  const log: u32 = 32 - clz(total);
  if (log > 12) return fail(E_HUFFMAN_TREE, p);
  const rest = ((<u32>1) << log) - total;
  if (rest & (rest - 1)) return fail(E_HUFFMAN_TREE, p);
  const last: u32 = 32 - clz(rest);
  store<u8>(WEIGHTS + count, <u8>last);
  store<u32>(RANK + ((<usize>last) << 2), load<u32>(RANK + ((<usize>last) << 2)) + 1);
  // The deepest level of a complete tree has an even number of leaves, at least two.
  const ones = load<u32>(RANK + 4);
  if (ones < 2 || ones & 1) return fail(E_HUFFMAN_TREE, p);
  // Codes by weight, lightest first; within a weight, by symbol. A symbol of weight w takes
  // 2^(w-1) consecutive cells, the bits it reads being log + 1 - w.
  let next: u32 = 0;
  for (let w: u32 = 1; w <= log; w++) {
    const n = load<u32>(RANK + ((<usize>w) << 2));
    store<u32>(RANK + ((<usize>w) << 2), next);
    next += n << (w - 1);
  }
  for (let s: u32 = 0; s <= count; s++) {
    const w = <u32>load<u8>(WEIGHTS + s);
    if (w === 0) continue;
    const first = load<u32>(RANK + ((<usize>w) << 2));
    const cells: u32 = 1 << (w - 1);
    store<u32>(RANK + ((<usize>w) << 2), first + cells);
    const entry = <u16>(s | ((log + 1 - w) << 8));
    for (let k: u32 = 0; k < cells; k++) store<u16>(HUF + ((<usize>(first + k)) << 1), entry);
  }
  hufLog = log;
  return <i32>took;
}

/**
 * Decodes `count` literals from the Huffman stream at `[p, end)` to `out`.
 * @returns false when the stream is malformed or not used up exactly.
 */
function huffmanStream(p: usize, end: usize, out: usize, count: u32): bool {
  let at = streamBits(p, <u32>(end - p));
  if (at < 0) return false;
  const log = hufLog;
  const stop = out + count;
  for (let o = out; o < stop; o++) {
    const e = <u32>load<u16>(HUF + ((<usize>bitsBelow(p, at, log)) << 1));
    store<u8>(o, <u8>e);
    at -= <i32>(e >> 8);
  }
  return at === 0;
}

/**
 * Decodes four Huffman streams, `[s1, s2)` to `[s4, stop)`, in step: the first three give
 * `quarter` literals each, from `out` on, the last `last` (at most `quarter`) after them.
 * Four independent chains of table lookups keep the processor busier than one.
 * @returns 0, or the number (1 to 4) of the first stream that is malformed or not used up
 * exactly.
 */
function huffmanStreams4(
  s1: usize,
  s2: usize,
  s3: usize,
  s4: usize,
  stop: usize,
  out: usize,
  quarter: u32,
  last: u32,
): i32 {
  let a1 = streamBits(s1, <u32>(s2 - s1));
  let a2 = streamBits(s2, <u32>(s3 - s2));
  let a3 = streamBits(s3, <u32>(s4 - s3));
  let a4 = streamBits(s4, <u32>(stop - s4));
  if (a1 < 0) return 1;
  if (a2 < 0) return 2;
  if (a3 < 0) return 3;
  if (a4 < 0) return 4;
  const log = hufLog;
  const q = <usize>quarter;
  const o2 = out + q;
  const o3 = o2 + q;
  const o4 = o3 + q;
  const n = <usize>last;
  for (let k: usize = 0; k < n; k++) {
    const e1 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s1, a1, log)) << 1));
    const e2 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s2, a2, log)) << 1));
    const e3 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s3, a3, log)) << 1));
    const e4 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s4, a4, log)) << 1));
    store<u8>(out + k, <u8>e1);
    store<u8>(o2 + k, <u8>e2);
    store<u8>(o3 + k, <u8>e3);
    store<u8>(o4 + k, <u8>e4);
    a1 -= <i32>(e1 >> 8);
    a2 -= <i32>(e2 >> 8);
    a3 -= <i32>(e3 >> 8);
    a4 -= <i32>(e4 >> 8);
  }
  // The first three streams' last few literals (the fourth's share is up to 3 smaller).
  for (let k = n; k < q; k++) {
    const e1 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s1, a1, log)) << 1));
    const e2 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s2, a2, log)) << 1));
    const e3 = <u32>load<u16>(HUF + ((<usize>bitsBelow(s3, a3, log)) << 1));
    store<u8>(out + k, <u8>e1);
    store<u8>(o2 + k, <u8>e2);
    store<u8>(o3 + k, <u8>e3);
    a1 -= <i32>(e1 >> 8);
    a2 -= <i32>(e2 >> 8);
    a3 -= <i32>(e3 >> 8);
  }
  if (a1 !== 0) return 1;
  if (a2 !== 0) return 2;
  if (a3 !== 0) return 3;
  return a4 !== 0 ? 4 : 0;
}

/** Where the block's literals are (in {@link LITERALS}, or in place when raw), and how many. */
let literalsAt: usize = 0;
let literalsCount: u32 = 0;

/**
 * Reads the literals section at `[p, end)`, leaving the literals in {@link LITERALS} or, when
 * raw, in place.
 * @returns the bytes it took, or a fault code; the literals' start and count in
 * {@link literalsAt} and {@link literalsCount}.
 */
function literalsSection(p: usize, end: usize, blockMax: u32): i32 {
  if (p >= end) return fail(E_LITERALS_HEADER, p);
  const b0 = <u32>load<u8>(p);
  const type = b0 & 3;
  const format = (b0 >> 2) & 3;
  if (type < 2) {
    let header: u32;
    let size: u32;
    if ((format & 1) === 0) {
      header = 1;
      size = b0 >> 3;
    } else if (format === 1) {
      header = 2;
      if (p + 2 > end) return fail(E_LITERALS_HEADER, p);
      size = (b0 >> 4) | ((<u32>load<u8>(p + 1)) << 4);
    } else {
      header = 3;
      if (p + 3 > end) return fail(E_LITERALS_HEADER, p);
      size = (b0 >> 4) | ((<u32>load<u8>(p + 1)) << 4) | ((<u32>load<u8>(p + 2)) << 12);
    }
    if (size > blockMax) return fail(E_LITERALS_SIZE, p);
    literalsCount = size;
    if (type === 0) {
      if (p + header + size > end) return fail(E_LITERALS_SIZE, p);
      literalsAt = p + header;
      return <i32>(header + size);
    }
    if (p + header + 1 > end) return fail(E_LITERALS_SIZE, p);
    memory.fill(LITERALS, load<u8>(p + header), size);
    literalsAt = LITERALS;
    return <i32>(header + 1);
  }
  // Huffman-coded, with a tree (type 2) or the last block's (type 3, treeless).
  const header: u32 = format < 2 ? 3 : format + 2;
  if (p + header > end) return fail(E_LITERALS_HEADER, p);
  let h: u64 = 0;
  for (let i: u32 = 0; i < header; i++) h |= (<u64>load<u8>(p + i)) << (<u64>(i << 3));
  const bits: u64 = format < 2 ? 10 : format === 2 ? 14 : 18;
  const sizeMask: u64 = ((<u64>1) << bits) - 1;
  const size = <u32>((h >> 4) & sizeMask);
  const compressedSize = <u32>((h >> (4 + bits)) & sizeMask);
  if (size > blockMax || size === 0) return fail(E_LITERALS_SIZE, p);
  if (p + header + compressedSize > end) return fail(E_LITERALS_SIZE, p);
  let s = p + header;
  const stop = s + compressedSize;
  if (type === 2) {
    const took = readHuffmanTree(s, stop);
    if (took < 0) return took;
    s += <usize>took;
  } else if (hufLog === 0) {
    return fail(E_NO_HUFFMAN_TREE, p);
  }
  if (format === 0) {
    if (!huffmanStream(s, stop, LITERALS, size)) return fail(E_HUFFMAN_STREAM, s);
  } else {
    // Four streams after a jump table of three 2-byte sizes; each of the first three decodes
    // a quarter of the literals (rounded up), the last the rest.
    if (s + 6 > stop) return fail(E_HUFFMAN_STREAM, s);
    const l1 = <usize>load<u16>(s);
    const l2 = <usize>load<u16>(s + 2);
    const l3 = <usize>load<u16>(s + 4);
    const s1 = s + 6;
    const s2 = s1 + l1;
    const s3 = s2 + l2;
    const s4 = s3 + l3;
    if (s4 >= stop) return fail(E_HUFFMAN_STREAM, s);
    // (libzstd refuses four streams for fewer than 6 literals; no encoder writes them.)
    if (size < 6) return fail(E_LITERALS_SIZE, p);
    const quarter = (size + 3) >> 2;
    const bad = huffmanStreams4(s1, s2, s3, s4, stop, LITERALS, quarter, size - 3 * quarter);
    if (bad !== 0) {
      return fail(E_HUFFMAN_STREAM, bad === 1 ? s1 : bad === 2 ? s2 : bad === 3 ? s3 : s4);
    }
  }
  literalsAt = LITERALS;
  literalsCount = size;
  return <i32>(header + compressedSize);
}

// ---- sequences (RFC 8878 sections 3.1.1.3.2 and 3.1.1.4) ------------------------------------

/** Accuracy log of the table the last {@link sequenceTable} set up. */
let tableLog: i32 = 0;

/**
 * Sets up one of the three sequence tables from its mode (0 predefined, 1 RLE, 2 FSE
 * description, 3 repeat) and the bytes at `[p, end)`.
 * @returns the bytes it took and, in {@link tableLog}, the table's accuracy log; or -1.
 */
function sequenceTable(
  mode: u32,
  table: usize,
  p: usize,
  end: usize,
  maxSymbol: u32,
  maxLog: u32,
  defaults: usize,
  defaultLog: u32,
  previous: i32,
): i32 {
  if (mode === 0) {
    buildTable(table, defaults, maxSymbol + 1, defaultLog);
    tableLog = <i32>defaultLog;
    return 0;
  }
  if (mode === 1) {
    if (p >= end) return -1;
    const symbol = <u32>load<u8>(p);
    if (symbol > maxSymbol) return -1;
    rleTable(table, symbol);
    tableLog = 0;
    return 1;
  }
  if (mode === 2) {
    const took = readTableDescription(p, end, maxSymbol, maxLog);
    if (took < 0 || !buildTable(table, NORM, maxSymbol + 1, descLog)) return -1;
    tableLog = <i32>descLog;
    return took;
  }
  if (previous < 0) return -1;
  tableLog = previous;
  return 0;
}

/**
 * Decodes a compressed block of `size` bytes at {@link INPUT} into the history buffer.
 * @returns the bytes produced, or a fault code.
 */
function compressed(size: u32, blockMax: u32): i32 {
  const end = INPUT + size;
  const took = literalsSection(INPUT, end, blockMax);
  if (took < 0) return took;
  let p = INPUT + <usize>took;
  let lit = literalsAt;
  const litEnd = lit + literalsCount;

  if (p >= end) return fail(E_SEQUENCES_HEADER, p);
  const b0 = <u32>load<u8>(p);
  let count: u32;
  if (b0 < 128) {
    count = b0;
    p += 1;
  } else if (b0 < 255) {
    if (p + 2 > end) return fail(E_SEQUENCES_HEADER, p);
    count = ((b0 - 128) << 8) + <u32>load<u8>(p + 1);
    p += 2;
  } else {
    if (p + 3 > end) return fail(E_SEQUENCES_HEADER, p);
    count = <u32>load<u16>(p + 1) + 0x7f00;
    p += 3;
  }
  const base = history();
  const start = base + pos;
  let o = start;
  if (count === 0) {
    if (p !== end) return fail(E_TRAILING, p);
    memory.copy(o, lit, <usize>literalsCount);
    return <i32>literalsCount;
  }
  if (p >= end) return fail(E_SEQUENCES_HEADER, p);
  const modes = <u32>load<u8>(p);
  if (modes & 3) return fail(E_SEQUENCES_HEADER, p);
  p += 1;
  let t = sequenceTable(modes >> 6, LL_TABLE, p, end, 35, 9, LL_DEFAULT, 6, llLog);
  if (t < 0) return fail(modes >> 6 === 3 ? E_NO_FSE_TABLE : E_FSE_TABLE, p);
  llLog = tableLog;
  p += <usize>t;
  t = sequenceTable((modes >> 4) & 3, OF_TABLE, p, end, 31, 8, OF_DEFAULT, 5, ofLog);
  if (t < 0) return fail(((modes >> 4) & 3) === 3 ? E_NO_FSE_TABLE : E_FSE_TABLE, p);
  ofLog = tableLog;
  p += <usize>t;
  t = sequenceTable((modes >> 2) & 3, ML_TABLE, p, end, 52, 9, ML_DEFAULT, 6, mlLog);
  if (t < 0) return fail(((modes >> 2) & 3) === 3 ? E_NO_FSE_TABLE : E_FSE_TABLE, p);
  mlLog = tableLog;
  p += <usize>t;

  let at = streamBits(p, <u32>(end - p));
  if (at < 0) return fail(E_SEQUENCE_STREAM, p);
  const s = p;
  at -= llLog;
  let llState = bitsBelow(s, at + llLog, <u32>llLog);
  at -= ofLog;
  let ofState = bitsBelow(s, at + ofLog, <u32>ofLog);
  at -= mlLog;
  let mlState = bitsBelow(s, at + mlLog, <u32>mlLog);

  const oEnd = start + blockMax;
  const window = <u64>windowSize;
  for (let i: u32 = 0; i < count; i++) {
    const le = load<u32>(LL_TABLE + ((<usize>llState) << 2));
    const oe = load<u32>(OF_TABLE + ((<usize>ofState) << 2));
    const me = load<u32>(ML_TABLE + ((<usize>mlState) << 2));
    const ofCode = oe & 0xff;
    const mlCode = me & 0xff;
    const llCode = le & 0xff;
    at -= <i32>ofCode;
    const ofValue: u32 = ((<u32>1) << ofCode) + bitsBelow(s, at + <i32>ofCode, ofCode);
    let bits = <u32>load<u8>(ML_BITS + mlCode);
    at -= <i32>bits;
    const matchLength =
      load<u32>(ML_BASE + ((<usize>mlCode) << 2)) + bitsBelow(s, at + <i32>bits, bits);
    bits = <u32>load<u8>(LL_BITS + llCode);
    at -= <i32>bits;
    const literalLength =
      load<u32>(LL_BASE + ((<usize>llCode) << 2)) + bitsBelow(s, at + <i32>bits, bits);

    // Offsets 1 to 3 name the repeated offsets (shifted by one after no literals).
    let offset: u32;
    if (ofValue > 3) {
      offset = ofValue - 3;
      rep3 = rep2;
      rep2 = rep1;
      rep1 = offset;
    } else {
      const index = ofValue - 1 + <u32>(literalLength === 0);
      if (index === 0) {
        offset = rep1;
      } else {
        offset = index === 1 ? rep2 : index === 2 ? rep3 : rep1 - 1;
        if (index !== 1) rep3 = rep2;
        rep2 = rep1;
        rep1 = offset;
      }
    }

    if (i + 1 < count) {
      bits = (le >> 8) & 0xff;
      at -= <i32>bits;
      llState = (le >> 16) + bitsBelow(s, at + <i32>bits, bits);
      bits = (me >> 8) & 0xff;
      at -= <i32>bits;
      mlState = (me >> 16) + bitsBelow(s, at + <i32>bits, bits);
      bits = (oe >> 8) & 0xff;
      at -= <i32>bits;
      ofState = (oe >> 16) + bitsBelow(s, at + <i32>bits, bits);
    }

    // Execute: the literals, then the match.
    if (<usize>literalLength > litEnd - lit) return fail(E_LITERALS_OVERRUN, s);
    if (<usize>literalLength + <usize>matchLength > oEnd - o) return fail(E_BLOCK_OVERRUN, s);
    if (literalLength <= 16) {
      store<u64>(o, load<u64>(lit));
      store<u64>(o, load<u64>(lit, 8), 8);
    } else {
      memory.copy(o, lit, literalLength);
    }
    o += literalLength;
    lit += literalLength;
    const behind = produced + <u64>(o - start);
    if (offset === 0 || <u64>offset > behind || <u64>offset > window) return fail(E_OFFSET, s);
    const head = <u32>(o - base);
    if (offset <= head) {
      copyMatch(o, offset, matchLength);
    } else {
      // The match starts in the previous pass, `offset - head` bytes before its end (more than
      // a block after anything this block writes), and may run on into this pass's start.
      const back = offset - head;
      const first = min(matchLength, back);
      memory.copy(o, base + tailEnd - back, first);
      if (matchLength > first) copyMatch(o + first, offset, matchLength - first);
    }
    o += matchLength;
  }
  if (at !== 0) return fail(E_SEQUENCE_STREAM, s);
  const rest = litEnd - lit;
  if (rest > oEnd - o) return fail(E_BLOCK_OVERRUN, s);
  memory.copy(o, lit, rest);
  o += rest;
  return <i32>(o - start);
}

/** Copies `length` bytes from `offset` back to `o` (overlapping copies repeat the pattern). */
function copyMatch(o: usize, offset: u32, length: u32): void {
  const from = o - offset;
  if (offset >= 8) {
    // Whole words; each reads bytes already final, since the source is 8 or more behind.
    for (let k: usize = 0; k < length; k += 8) store<u64>(o + k, load<u64>(from + k));
  } else if (offset === 1) {
    memory.fill(o, load<u8>(from), length);
  } else {
    for (let k: usize = 0; k < length; k++) store<u8>(o + k, load<u8>(from + k));
  }
}
