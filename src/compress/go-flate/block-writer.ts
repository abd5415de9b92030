/**
 * Writes deflate blocks the way Go's `compress/flate` chooses them: for each block of tokens,
 * the smallest of a stored, a fixed-code and a dynamic-code block (ties go to the earlier),
 * with Go's code-length encoding of the dynamic header. Output collects in memory until the
 * owner takes it ({@link BlockWriter.take}).
 *
 * @module
 */
import { FIXED_LITERALS, FIXED_OFFSETS, HuffmanEncoder } from './huffman.js';
import {
  CODEGEN_CODE_COUNT,
  END_BLOCK,
  LENGTH_BASE,
  LENGTH_CODE,
  LENGTH_CODES_START,
  LENGTH_EXTRA_BITS,
  LENGTH_SHIFT,
  MATCH_TYPE,
  MAX_NUM_LIT,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_BASE,
  OFFSET_CODE,
  OFFSET_CODE_COUNT,
  OFFSET_EXTRA_BITS,
  OFFSET_MASK,
} from './tokens.js';

/** The order code-length code lengths are written in (RFC 1951 §3.2.7). */
const CODEGEN_ORDER = Uint8Array.of(
  16,
  17,
  18,
  0,
  8,
  7,
  9,
  6,
  10,
  5,
  11,
  4,
  12,
  3,
  13,
  2,
  14,
  1,
  15,
);
/** Ends the code-length list. */
const BAD_CODE = 255;

/** The distance code of a block without matches. */
const HUFF_OFFSETS: HuffmanEncoder = (() => {
  const h = new HuffmanEncoder(OFFSET_CODE_COUNT);
  const freq = new Int32Array(OFFSET_CODE_COUNT);
  freq[0] = 1;
  h.generate(freq, 15);
  return h;
})();

/** Deflate block writer with Go's block choices. */
export class BlockWriter {
  private bits = 0;
  private nbits = 0;
  private out = new Uint8Array(1 << 16);
  private size = 0;
  private readonly literalFreq = new Int32Array(MAX_NUM_LIT);
  private readonly offsetFreq = new Int32Array(OFFSET_CODE_COUNT);
  private readonly codegenFreq = new Int32Array(CODEGEN_CODE_COUNT);
  private readonly codegen = new Uint8Array(MAX_NUM_LIT + OFFSET_CODE_COUNT + 1);
  private readonly literals = new HuffmanEncoder(MAX_NUM_LIT);
  private readonly offsets = new HuffmanEncoder(OFFSET_CODE_COUNT);
  private readonly codegenCode = new HuffmanEncoder(CODEGEN_CODE_COUNT);

  /** The bytes written since the last call, or `undefined` when there are none. */
  take(): Uint8Array | undefined {
    if (this.size === 0) return undefined;
    const bytes = this.out.slice(0, this.size);
    this.size = 0;
    return bytes;
  }

  /** Writes out the bits pending, padded with zeros to a byte boundary. */
  alignToByte(): void {
    if (this.nbits > 0) this.byte(this.bits & 0xff);
    this.bits = 0;
    this.nbits = 0;
  }

  /** A stored block's header: type bits, alignment, length and its complement. */
  writeStoredHeader(length: number, eof: boolean): void {
    this.writeBits(eof ? 1 : 0, 3);
    this.alignToByte();
    this.writeBits(length, 16);
    this.writeBits(~length & 0xffff, 16);
  }

  /** A stored block of these bytes (at most 65,535). */
  writeStored(input: Uint8Array, eof: boolean): void {
    this.writeStoredHeader(input.length, eof);
    this.writeBytes(input);
  }

  /**
   * One block of `tokens[0..n)`, as a stored block of `input` when that is smallest (and
   * `input` is given), else with fixed or dynamic codes. `tokens` must have room for one more.
   */
  writeBlock(tokens: Uint32Array, n: number, eof: boolean, input: Uint8Array | null): void {
    tokens[n] = END_BLOCK;
    const [numLiterals, numOffsets] = this.indexTokens(tokens, n + 1);
    const storable = input !== null && input.length <= MAX_STORE_BLOCK_SIZE;
    let extraBits = 0;
    if (storable) {
      for (let code = LENGTH_CODES_START + 8; code < numLiterals; code++) {
        extraBits += this.literalFreq[code]! * LENGTH_EXTRA_BITS[code - LENGTH_CODES_START]!;
      }
      for (let code = 4; code < numOffsets; code++) {
        extraBits += this.offsetFreq[code]! * OFFSET_EXTRA_BITS[code]!;
      }
    }
    let literals = FIXED_LITERALS;
    let offsets = FIXED_OFFSETS;
    let size =
      3 +
      FIXED_LITERALS.bitLength(this.literalFreq) +
      FIXED_OFFSETS.bitLength(this.offsetFreq) +
      extraBits;
    this.generateCodegen(numLiterals, numOffsets, this.literals, this.offsets);
    this.codegenCode.generate(this.codegenFreq, 7);
    const [dynamicSize, numCodegens] = this.dynamicSize(this.literals, this.offsets, extraBits);
    if (dynamicSize < size) {
      size = dynamicSize;
      literals = this.literals;
      offsets = this.offsets;
    }
    if (storable && (input.length + 5) * 8 < size) {
      this.writeStored(input, eof);
      return;
    }
    if (literals === FIXED_LITERALS) this.writeBits(eof ? 3 : 2, 3);
    else this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
    this.writeTokens(tokens, n + 1, literals, offsets);
  }

  /**
   * One block of `tokens[0..n)` with dynamic codes, or stored when that is smaller by a
   * margin (a sixteenth). `tokens` must have room for one more.
   */
  writeBlockDynamic(tokens: Uint32Array, n: number, eof: boolean, input: Uint8Array): void {
    tokens[n] = END_BLOCK;
    const [numLiterals, numOffsets] = this.indexTokens(tokens, n + 1);
    this.generateCodegen(numLiterals, numOffsets, this.literals, this.offsets);
    this.codegenCode.generate(this.codegenFreq, 7);
    const [size, numCodegens] = this.dynamicSize(this.literals, this.offsets, 0);
    if (input.length <= MAX_STORE_BLOCK_SIZE && (input.length + 5) * 8 < size + (size >> 4)) {
      this.writeStored(input, eof);
      return;
    }
    this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
    this.writeTokens(tokens, n + 1, this.literals, this.offsets);
  }

  /** One block of `input` as literals only, Huffman-coded (or stored, as above). */
  writeBlockHuff(eof: boolean, input: Uint8Array): void {
    const freq = this.literalFreq;
    freq.fill(0);
    for (let i = 0; i < input.length; i++) freq[input[i]!]!++;
    freq[END_BLOCK] = 1;
    // Go leaves the other distance counts as the last block left them; they cost nothing
    // under a code that gives them no length.
    this.offsetFreq[0] = 1;
    this.literals.generate(freq, 15);
    this.generateCodegen(END_BLOCK + 1, 1, this.literals, HUFF_OFFSETS);
    this.codegenCode.generate(this.codegenFreq, 7);
    const [size, numCodegens] = this.dynamicSize(this.literals, HUFF_OFFSETS, 0);
    if (input.length <= MAX_STORE_BLOCK_SIZE && (input.length + 5) * 8 < size + (size >> 4)) {
      this.writeStored(input, eof);
      return;
    }
    this.writeDynamicHeader(END_BLOCK + 1, 1, numCodegens, eof);
    const { code, len } = this.literals;
    for (let i = 0; i < input.length; i++) this.writeBits(code[input[i]!]!, len[input[i]!]!);
    this.writeBits(code[END_BLOCK]!, len[END_BLOCK]!);
  }

  /** Counts symbol frequencies and builds both codes; returns the symbol counts to send. */
  private indexTokens(tokens: Uint32Array, n: number): [number, number] {
    const lit = this.literalFreq;
    const off = this.offsetFreq;
    lit.fill(0);
    off.fill(0);
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (t < MATCH_TYPE) {
        lit[t]!++;
      } else {
        lit[LENGTH_CODES_START + LENGTH_CODE[(t - MATCH_TYPE) >>> LENGTH_SHIFT]!]!++;
        off[OFFSET_CODE[t & OFFSET_MASK]!]!++;
      }
    }
    let numLiterals = MAX_NUM_LIT;
    while (lit[numLiterals - 1] === 0) numLiterals--;
    let numOffsets = OFFSET_CODE_COUNT;
    while (numOffsets > 0 && off[numOffsets - 1] === 0) numOffsets--;
    if (numOffsets === 0) {
      off[0] = 1;
      numOffsets = 1;
    }
    this.literals.generate(lit, 15);
    this.offsets.generate(off, 15);
    return [numLiterals, numOffsets];
  }

  /** Run-length codes both codes' lengths into `codegen` and counts `codegenFreq`. */
  private generateCodegen(
    numLiterals: number,
    numOffsets: number,
    literals: HuffmanEncoder,
    offsets: HuffmanEncoder,
  ): void {
    const freq = this.codegenFreq;
    freq.fill(0);
    const lengths = new Uint8Array(numLiterals + numOffsets + 1);
    lengths.set(literals.len.subarray(0, numLiterals));
    lengths.set(offsets.len.subarray(0, numOffsets), numLiterals);
    lengths[numLiterals + numOffsets] = BAD_CODE;
    const out = this.codegen;
    let outIndex = 0;
    let size = lengths[0]!;
    let count = 1;
    for (let inIndex = 1; size !== BAD_CODE; inIndex++) {
      const nextSize = lengths[inIndex]!;
      if (nextSize === size) {
        count++;
        continue;
      }
      if (size !== 0) {
        out[outIndex++] = size;
        freq[size]!++;
        count--;
        while (count >= 3) {
          const n = Math.min(6, count);
          out[outIndex++] = 16;
          out[outIndex++] = n - 3;
          freq[16]!++;
          count -= n;
        }
      } else {
        while (count >= 11) {
          const n = Math.min(138, count);
          out[outIndex++] = 18;
          out[outIndex++] = n - 11;
          freq[18]!++;
          count -= n;
        }
        if (count >= 3) {
          out[outIndex++] = 17;
          out[outIndex++] = count - 3;
          freq[17]!++;
          count = 0;
        }
      }
      for (; count > 0; count--) {
        out[outIndex++] = size;
        freq[size]!++;
      }
      size = nextSize;
      count = 1;
    }
    out[outIndex] = BAD_CODE;
  }

  /** A dynamic block's size in bits, and how many code-length code lengths it sends. */
  private dynamicSize(
    literals: HuffmanEncoder,
    offsets: HuffmanEncoder,
    extraBits: number,
  ): [number, number] {
    const freq = this.codegenFreq;
    let numCodegens = CODEGEN_CODE_COUNT;
    while (numCodegens > 4 && freq[CODEGEN_ORDER[numCodegens - 1]!] === 0) numCodegens--;
    const header =
      3 +
      5 +
      5 +
      4 +
      3 * numCodegens +
      this.codegenCode.bitLength(freq) +
      freq[16]! * 2 +
      freq[17]! * 3 +
      freq[18]! * 7;
    const size =
      header +
      literals.bitLength(this.literalFreq) +
      offsets.bitLength(this.offsetFreq) +
      extraBits;
    return [size, numCodegens];
  }

  private writeDynamicHeader(
    numLiterals: number,
    numOffsets: number,
    numCodegens: number,
    eof: boolean,
  ): void {
    this.writeBits(eof ? 5 : 4, 3);
    this.writeBits(numLiterals - 257, 5);
    this.writeBits(numOffsets - 1, 5);
    this.writeBits(numCodegens - 4, 4);
    for (let i = 0; i < numCodegens; i++)
      this.writeBits(this.codegenCode.len[CODEGEN_ORDER[i]!]!, 3);
    const { code, len } = this.codegenCode;
    const cg = this.codegen;
    for (let i = 0; ; ) {
      const word = cg[i++]!;
      if (word === BAD_CODE) break;
      this.writeBits(code[word]!, len[word]!);
      if (word === 16) this.writeBits(cg[i++]!, 2);
      else if (word === 17) this.writeBits(cg[i++]!, 3);
      else if (word === 18) this.writeBits(cg[i++]!, 7);
    }
  }

  private writeTokens(
    tokens: Uint32Array,
    n: number,
    literals: HuffmanEncoder,
    offsets: HuffmanEncoder,
  ): void {
    const lc = literals.code;
    const ll = literals.len;
    const oc = offsets.code;
    const ol = offsets.len;
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (t < MATCH_TYPE) {
        this.writeBits(lc[t]!, ll[t]!);
        continue;
      }
      const length = (t - MATCH_TYPE) >>> LENGTH_SHIFT;
      const lengthCode = LENGTH_CODE[length]!;
      this.writeBits(lc[lengthCode + LENGTH_CODES_START]!, ll[lengthCode + LENGTH_CODES_START]!);
      const lengthExtra = LENGTH_EXTRA_BITS[lengthCode]!;
      if (lengthExtra > 0) this.writeBits(length - LENGTH_BASE[lengthCode]!, lengthExtra);
      const offset = t & OFFSET_MASK;
      const offsetCode = OFFSET_CODE[offset]!;
      this.writeBits(oc[offsetCode]!, ol[offsetCode]!);
      const offsetExtra = OFFSET_EXTRA_BITS[offsetCode]!;
      if (offsetExtra > 0) this.writeBits(offset - OFFSET_BASE[offsetCode]!, offsetExtra);
    }
  }

  /** Appends `nb` (at most 16) bits, least significant first. */
  private writeBits(value: number, nb: number): void {
    this.bits |= value << this.nbits;
    this.nbits += nb;
    while (this.nbits >= 8) {
      this.byte(this.bits & 0xff);
      this.bits >>>= 8;
      this.nbits -= 8;
    }
  }

  private writeBytes(bytes: Uint8Array): void {
    if (this.nbits !== 0) throw new Error('stored bytes must start on a byte boundary');
    this.reserve(bytes.length);
    this.out.set(bytes, this.size);
    this.size += bytes.length;
  }

  private byte(b: number): void {
    if (this.size === this.out.length) this.reserve(1);
    this.out[this.size++] = b;
  }

  private reserve(n: number): void {
    if (this.size + n <= this.out.length) return;
    const grown = new Uint8Array(Math.max(this.out.length * 2, this.size + n));
    grown.set(this.out.subarray(0, this.size));
    this.out = grown;
  }
}
