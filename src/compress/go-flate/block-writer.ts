/**
 * Writes deflate blocks the way Go's `compress/flate` chooses them: for each block of tokens,
 * the smallest of a stored, a fixed-code and a dynamic-code block (ties go to the earlier),
 * with Go's code-length encoding of the dynamic header. Output collects in memory until the
 * owner takes it ({@link BlockWriter.take}).
 *
 * @module
 */
import { DeflateBitWriter } from './bit-writer.js';
import { FIXED_LITERALS, FIXED_OFFSETS, HUFF_OFFSETS } from './huffman.js';
import {
  END_BLOCK,
  LENGTH_CODE,
  LENGTH_CODES_START,
  LENGTH_EXTRA_BITS,
  LENGTH_SHIFT,
  MATCH_TYPE,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_CODE,
  OFFSET_EXTRA_BITS,
  OFFSET_MASK,
} from './tokens.js';

/** Deflate block writer with Go's block choices. */
export class BlockWriter extends DeflateBitWriter {
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
    const [numLiterals, numOffsets] = this.codesInUse();
    this.literals.generate(lit, 15);
    this.offsets.generate(off, 15);
    return [numLiterals, numOffsets];
  }
}
