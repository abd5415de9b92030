/**
 * layerdiff LZ4 block compressor and decoder (AssemblyScript → WebAssembly), for the
 * `lz4-block` chunk coding. Compiled by `scripts/build-wasm.mjs` into its own module,
 * `lz4.wasm`; it is not part of the TypeScript build. The JS decoder
 * (`src/compress/lz4-block.ts`) reads the same blocks where the module cannot be loaded, and is
 * the reference the module's decoder follows.
 *
 * Output is the LZ4 block format (lz4 project, `doc/lz4_Block_format.md`): sequences of a
 * token (literal length high nibble, match length − 4 low nibble), extra length bytes (runs of
 * 255), literals, a 2-byte little-endian offset (1 to 65,535), extra match length bytes; the
 * last sequence is literals only. Its end rules hold: the last 5 bytes are literals and no
 * match starts within the last 12 bytes.
 *
 * Matching is greedy over a hash of the next 4 bytes (4,096 slots), with LZ4's usual
 * acceleration: after every 64 misses in a row the scan steps one byte further, so data with
 * no matches costs little.
 *
 * Linear memory: a static 16 KiB hash table, then, from `heapBase()`, space the host sizes
 * (with `memory.grow`) for the input and the output. Nothing is allocated at run time.
 */

/** log2 of the hash table's slots. */
const HASH_LOG: u32 = 12;
/**
 * Slot i holds the position last seen with hash i, counted from the start of the first input
 * since the table was cleared: each call's input starts at `cursor`, after all earlier ones, so
 * entries older than `cursor` belong to earlier inputs and are ignored. The table is cleared
 * only when the count nears 2^32, not per call (a 16 KiB clear costs more than compressing a
 * small file).
 */
const TABLE: usize = memory.data(4 << HASH_LOG, 64);
/** Where the current input starts in the table's count; 0 never marks a valid entry. */
let cursor: u32 = 1;
/** Clear the table when the next input would reach past this count. */
const CURSOR_LIMIT: u32 = 0xf0000000;
const MIN_MATCH: u32 = 4;
/** The block's last bytes that must be literals. */
const LAST_LITERALS: usize = 5;
/** No match may start within this many bytes of the end. */
const MF_LIMIT: usize = 12;
/** Largest match offset the format can express. */
const MAX_OFFSET: usize = 65535;
// `decompress` needs 32 writable bytes after its input and after its output bound (see there);
// the host's DECODE_SLACK (src/compress/lz4-codec.ts) must say the same.

/** Start of the memory the host manages (input and output buffers). */
export function heapBase(): usize {
  return __heap_base;
}

// Small enough that binaryen inlines it at -O3.
function hash4(v: u32): usize {
  return <usize>((v * 2654435761) >> (32 - HASH_LOG));
}

/** Writes the extra length bytes of a length of at least 15 (minus 15). */
function putLength(op: usize, n: u32): usize {
  while (n >= 255) {
    store<u8>(op, 255);
    op++;
    n -= 255;
  }
  store<u8>(op, <u8>n);
  return op + 1;
}

/** Writes one sequence's token, literal length and literals; returns where the offset goes. */
function putLiterals(op: usize, from: usize, lit: u32, low: u32): usize {
  const token = op;
  op++;
  if (lit >= 15) {
    store<u8>(token, <u8>(0xf0 | low));
    op = putLength(op, lit - 15);
  } else {
    store<u8>(token, <u8>((lit << 4) | low));
  }
  if (lit <= 16) {
    // Within the slack the host leaves after the input and the output.
    store<u64>(op, load<u64>(from));
    store<u64>(op + 8, load<u64>(from + 8));
  } else {
    memory.copy(op, from, lit);
  }
  return op + lit;
}

/**
 * Compresses `len` bytes at `src` into an LZ4 block at `dst` and returns its length. `dst` must
 * have room for `len + len / 255 + 16` bytes (the worst case, all literals) and 32 more, and
 * 32 bytes after the input must be readable (short literal runs are copied 16 bytes at a
 * time); the regions must not overlap. Parameters are trusted (checked by the host).
 */
export function compress(src: usize, len: u32, dst: usize): u32 {
  const end = src + <usize>len;
  let op = dst;
  let anchor = src;
  if (<usize>len > MF_LIMIT) {
    if (cursor > CURSOR_LIMIT - len) {
      memory.fill(TABLE, 0, 4 << HASH_LOG);
      cursor = 1;
    }
    // Table entries are `cursor + (position - src)`.
    const base = src - <usize>cursor;
    const limit = end - MF_LIMIT;
    const matchLimit = end - LAST_LITERALS;
    let ip = src + 1;
    let misses: u32 = 0;
    while (ip < limit) {
      const seq = load<u32>(ip);
      const slot = TABLE + (hash4(seq) << 2);
      const seen = load<u32>(slot);
      const ref = base + <usize>seen;
      store<u32>(slot, <u32>(ip - base));
      if (seen < cursor || ip - ref > MAX_OFFSET || load<u32>(ref) !== seq) {
        ip += 1 + <usize>(misses >> 6);
        misses++;
        continue;
      }
      // A match of at least 4 bytes: extend it backwards over pending literals, then forwards
      // (8 bytes at a time while 8 remain before matchLimit).
      let start = ip;
      let back = ref;
      while (start > anchor && back > src && load<u8>(start - 1) === load<u8>(back - 1)) {
        start--;
        back--;
      }
      let a = ip + MIN_MATCH;
      let b = ref + MIN_MATCH;
      let differs = false;
      while (a + 8 <= matchLimit) {
        const x = load<u64>(a) ^ load<u64>(b);
        if (x !== 0) {
          a += <usize>(ctz(x) >> 3);
          differs = true;
          break;
        }
        a += 8;
        b += 8;
      }
      if (!differs) {
        while (a < matchLimit && load<u8>(a) === load<u8>(b)) {
          a++;
          b++;
        }
      }
      const matchLen = <u32>(a - start) - MIN_MATCH;
      op = putLiterals(op, anchor, <u32>(start - anchor), min<u32>(matchLen, 15));
      store<u16>(op, <u16>(start - back));
      op += 2;
      if (matchLen >= 15) op = putLength(op, matchLen - 15);
      ip = a;
      anchor = a;
      misses = 0;
      // Remember a position inside the match, so that runs find their next match sooner.
      if (ip < limit) {
        store<u32>(TABLE + (hash4(load<u32>(ip - 2)) << 2), <u32>(ip - 2 - base));
      }
    }
    cursor += len;
  }
  op = putLiterals(op, anchor, <u32>(end - anchor), 0);
  return <u32>(op - dst);
}

/**
 * Decodes the LZ4 block of `len` bytes at `src` into `dst` and returns the decoded length, or
 * -1 when the block is malformed or decodes past `cap` bytes. The checks are those of the JS
 * decoder (`src/compress/lz4-block.ts`), which the host runs on a block this refuses, to name
 * the fault. Short literal runs and matches are copied 16 bytes at a time, so the host must
 * leave 32 writable bytes after `dst + cap` (their content is garbage) and after `src + len`;
 * the regions must not overlap.
 */
export function decompress(src: usize, len: u32, dst: usize, cap: u32): i32 {
  const end = src + <usize>len;
  const limit = dst + <usize>cap;
  let ip = src;
  let op = dst;
  while (true) {
    if (ip >= end) return -1;
    const token = <u32>load<u8>(ip);
    ip++;
    let lit = token >> 4;
    if (lit === 15) {
      let b: u32 = 255;
      while (b === 255) {
        if (ip >= end) return -1;
        b = <u32>load<u8>(ip);
        ip++;
        lit += b;
      }
    }
    if (<usize>lit > end - ip || <usize>lit > limit - op) return -1;
    if (lit <= 16) {
      // Within the slack after both regions.
      store<u64>(op, load<u64>(ip));
      store<u64>(op + 8, load<u64>(ip + 8));
    } else {
      memory.copy(op, ip, lit);
    }
    op += lit;
    ip += lit;
    if (ip === end) break;
    if (end - ip < 2) return -1;
    const offset = <usize>load<u16>(ip);
    if (offset === 0 || offset > op - dst) return -1;
    ip += 2;
    let matchLen = token & 15;
    if (matchLen === 15) {
      let b: u32 = 255;
      while (b === 255) {
        if (ip >= end) return -1;
        b = <u32>load<u8>(ip);
        ip++;
        matchLen += b;
      }
    }
    matchLen += MIN_MATCH;
    if (<usize>matchLen > limit - op) return -1;
    let from = op - offset;
    if (offset >= 8) {
      // 8 bytes at a time: each step reads bytes at least 8 behind what it writes, so a match
      // that overlaps its own output repeats exactly as byte by byte would.
      const stop = op + <usize>matchLen;
      if (matchLen > 32 && offset >= <usize>matchLen) {
        memory.copy(op, from, matchLen);
      } else {
        let o = op;
        while (o < stop) {
          store<u64>(o, load<u64>(from));
          o += 8;
          from += 8;
        }
      }
      op = stop;
    } else if (offset === 1) {
      // A run of one byte (zeros, mostly).
      memory.fill(op, load<u8>(from), matchLen);
      op += <usize>matchLen;
    } else {
      // Overlapping, offset 2 to 7: the output repeats with period `offset`, hence with any
      // multiple of it. Byte by byte for the first 8 bytes; after that every byte equals the
      // one `period` back (the smallest multiple of `offset` of at least 8), so 8 bytes at a
      // time read only bytes already written.
      const stop = op + <usize>matchLen;
      const head = op + 8;
      while (op < head) {
        store<u8>(op, load<u8>(from));
        op++;
        from++;
      }
      const period = offset * ((7 + offset) / offset);
      from = op - period;
      while (op < stop) {
        store<u64>(op, load<u64>(from));
        op += 8;
        from += 8;
      }
      op = stop;
    }
  }
  return <i32>(op - dst);
}
