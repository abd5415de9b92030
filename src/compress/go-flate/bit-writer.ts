/**
 * The bit-level half of a deflate block writer that Go-compatible encoders share: bits out
 * least significant first, stored block headers, the run-length coding of code lengths into
 * a dynamic header (as Go's `compress/flate` and klauspost's port of it both do it), and
 * tokens out under a pair of codes. Which block to write is the subclass's choice. Output
 * collects in memory until the owner takes it ({@link DeflateBitWriter.take}).
 *
 * @module
 */
import { HuffmanEncoder } from './huffman.js';
import {
  CODEGEN_CODE_COUNT,
  LENGTH_BASE,
  LENGTH_CODE,
  LENGTH_CODES_START,
  LENGTH_EXTRA_BITS,
  LENGTH_SHIFT,
  MATCH_TYPE,
  MAX_NUM_LIT,
  OFFSET_BASE,
  OFFSET_CODE,
  OFFSET_CODE_COUNT,
  OFFSET_EXTRA_BITS,
  OFFSET_MASK,
} from './tokens.js';

/** The order code-length code lengths are written in (RFC 1951 §3.2.7). */
export const CODEGEN_ORDER = Uint8Array.of(
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
export const BAD_CODE = 255;

/** Bits out, code-length coding and token output for deflate blocks. */
export class DeflateBitWriter {
  private bits = 0;
  private nbits = 0;
  private out = new Uint8Array(1 << 16);
  private size = 0;
  /** Frequencies of the literal/length symbols of the block being written. */
  protected readonly literalFreq = new Int32Array(MAX_NUM_LIT);
  /** Frequencies of the distance symbols of the block being written. */
  protected readonly offsetFreq = new Int32Array(OFFSET_CODE_COUNT);
  /** Frequencies of the code-length symbols, from {@link DeflateBitWriter.generateCodegen}. */
  protected readonly codegenFreq = new Int32Array(CODEGEN_CODE_COUNT);
  /** The run-length coded code lengths, ended by {@link BAD_CODE}. */
  protected readonly codegen = new Uint8Array(MAX_NUM_LIT + OFFSET_CODE_COUNT + 1);
  /** The literal/length code being built or used. */
  protected literals = new HuffmanEncoder(MAX_NUM_LIT);
  /** The distance code being built or used. */
  protected readonly offsets = new HuffmanEncoder(OFFSET_CODE_COUNT);
  /** The code-length code. */
  protected readonly codegenCode = new HuffmanEncoder(CODEGEN_CODE_COUNT);

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
   * How many literal/length and distance codes the block's frequencies need sent (through the
   * last one used); a block without matches still sends one distance code, counted once.
   */
  protected codesInUse(): [number, number] {
    const lit = this.literalFreq;
    const off = this.offsetFreq;
    let numLiterals = MAX_NUM_LIT;
    while (lit[numLiterals - 1] === 0) numLiterals--;
    let numOffsets = OFFSET_CODE_COUNT;
    while (numOffsets > 0 && off[numOffsets - 1] === 0) numOffsets--;
    if (numOffsets === 0) {
      off[0] = 1;
      numOffsets = 1;
    }
    return [numLiterals, numOffsets];
  }

  /** Run-length codes both codes' lengths into `codegen` and counts `codegenFreq`. */
  protected generateCodegen(
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

  /** The dynamic header's size in bits for the codes last run-length coded, and how many
   * code-length code lengths it sends. */
  protected headerSize(): [number, number] {
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
    return [header, numCodegens];
  }

  /** A dynamic block's size in bits, and how many code-length code lengths it sends. */
  protected dynamicSize(
    literals: HuffmanEncoder,
    offsets: HuffmanEncoder,
    extraBits: number,
  ): [number, number] {
    const [header, numCodegens] = this.headerSize();
    const size =
      header +
      literals.bitLength(this.literalFreq) +
      offsets.bitLength(this.offsetFreq) +
      extraBits;
    return [size, numCodegens];
  }

  protected writeDynamicHeader(
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

  protected writeTokens(
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
  protected writeBits(value: number, nb: number): void {
    this.bits |= value << this.nbits;
    this.nbits += nb;
    while (this.nbits >= 8) {
      this.byte(this.bits & 0xff);
      this.bits >>>= 8;
      this.nbits -= 8;
    }
  }

  protected writeBytes(bytes: Uint8Array): void {
    if (this.nbits !== 0) throw new Error('stored bytes must start on a byte boundary');
    this.reserve(bytes.length);
    this.out.set(bytes, this.size);
    this.size += bytes.length;
  }

  protected byte(b: number): void {
    if (this.size === this.out.length) this.reserve(1);
    this.out[this.size++] = b;
  }

  protected reserve(n: number): void {
    if (this.size + n <= this.out.length) return;
    const grown = new Uint8Array(Math.max(this.out.length * 2, this.size + n));
    grown.set(this.out.subarray(0, this.size));
    this.out = grown;
  }
}
