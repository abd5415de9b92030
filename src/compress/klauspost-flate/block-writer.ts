/**
 * Writes deflate blocks the way klauspost/compress's `flate` (v1.15) chooses them for its
 * fast levels. Unlike Go's own writer it may leave a dynamic block open across calls: the
 * next block of tokens reuses the open block's codes when its estimate says that costs less
 * than a new header, so block boundaries depend on the writer's state as well as on the
 * tokens. Each choice (reuse, new dynamic codes, fixed codes, stored, Huffman only) is made
 * on the same estimates, in the same order and with the same ties as klauspost's.
 *
 * @module
 */
import { DeflateBitWriter } from '../go-flate/bit-writer.js';
import {
  FIXED_LITERALS,
  FIXED_OFFSETS,
  HUFF_OFFSETS,
  HuffmanEncoder,
} from '../go-flate/huffman.js';
import {
  END_BLOCK,
  LENGTH_EXTRA_BITS,
  MAX_NUM_LIT,
  MAX_STORE_BLOCK_SIZE,
  OFFSET_CODE_COUNT,
  OFFSET_EXTRA_BITS,
} from '../go-flate/tokens.js';
import type { FastTokens } from './tokens.js';

/** Below this many tokens, fixed codes are considered. */
const MAX_PREDEFINED_TOKENS = 250;
/** What a new Huffman-only header is guessed to cost, in bits. */
const GUESS_HEADER_BITS = 70 * 8;
const MAX_INT32 = 0x7fffffff;

/** klauspost's block writer. */
export class KlauspostBlockWriter extends DeflateBitWriter {
  /** The bits of the open block's header, or 0 when no dynamic block is open. */
  private lastHeader = 0;
  /** Whether the open block is Huffman only. */
  private lastHuffMan = false;
  /** A spare literal code, swapped with the current one by Huffman-only blocks. */
  private tmpLiterals = new HuffmanEncoder(MAX_NUM_LIT);

  /**
   * @param logNewTablePenalty - a new table is preferred only when it saves more than
   *   1/2^this of the estimate (7 for levels 1-6).
   * @param alwaysEOB - klauspost/compress from v1.18.2 on (and Go 1.27's port): every block
   *   counts its end-of-block symbol and sends only the codes it uses, even a block left open.
   *   Before, a block left open sent all 286 + 30 code lengths.
   */
  constructor(
    private readonly logNewTablePenalty: number,
    private readonly alwaysEOB = false,
  ) {
    super();
  }

  /** Forgets any open block, as at the start of a stream. */
  reset(): void {
    this.alignToByte();
    this.lastHeader = 0;
    this.lastHuffMan = false;
  }

  /** Ends the open block, if any, and pads to a byte boundary. */
  flush(): void {
    this.closeOpenBlock();
    this.alignToByte();
  }

  /**
   * A stored block header, ending any open block first. A final block of length 0 is written
   * as an empty fixed-code block instead.
   */
  override writeStoredHeader(length: number, eof: boolean): void {
    this.closeOpenBlock();
    if (length === 0 && eof) {
      this.writeFixedHeader(true);
      this.writeBits(0, 7);
      this.alignToByte();
      return;
    }
    super.writeStoredHeader(length, eof);
  }

  /**
   * The tokens of `input` (at most 65,535 bytes) as a dynamic block, reusing the open block's
   * codes when that is estimated cheaper, or as fixed codes or stored when smaller. Unless
   * `sync` or `eof`, the block is left open for the next call.
   */
  writeBlockDynamic(tokens: FastTokens, eof: boolean, input: Uint8Array, sync: boolean): void {
    sync = sync || eof;
    if (sync) tokens.addEOB();
    if ((this.lastHuffMan || eof) && this.lastHeader > 0) {
      this.writeEOB();
      this.lastHuffMan = false;
    }
    if (this.lastHeader > 0 && !this.canReuse(tokens)) this.writeEOB();
    const [numLiterals, numOffsets] = this.indexTokens(tokens, !sync);
    const storable = input.length <= MAX_STORE_BLOCK_SIZE;
    const storedSize = (input.length + 5) * 8;
    let extraBits = 0;
    if (storable || this.lastHeader > 0) extraBits = this.extraBitSize();
    let size = 0;
    if (this.lastHeader > 0) {
      let newSize = this.lastHeader + tokens.estimatedBits();
      newSize += this.literals.len[END_BLOCK]! + (newSize >> this.logNewTablePenalty);
      const reuseSize =
        this.literals.bitLength(this.literalFreq) +
        this.offsets.bitLength(this.offsetFreq) +
        extraBits;
      if (newSize < reuseSize) {
        this.writeEOB();
        size = newSize;
      } else {
        size = reuseSize;
      }
      if (tokens.n < MAX_PREDEFINED_TOKENS && this.fixedSize(extraBits) + 7 < size) {
        if (storable && storedSize <= size) {
          this.writeStored(input, eof);
          return;
        }
        this.writeFixed(tokens, eof, sync);
        return;
      }
      if (storable && storedSize <= size) {
        this.writeStored(input, eof);
        return;
      }
    }
    if (this.lastHeader === 0) {
      this.literalFreq[END_BLOCK] = 1;
      this.literals.generate(this.literalFreq, 15);
      this.offsets.generate(this.offsetFreq, 15);
      this.generateCodegen(numLiterals, numOffsets, this.literals, this.offsets);
      this.codegenCode.generate(this.codegenFreq, 7);
      const [dynamicSize, numCodegens] = this.dynamicSize(this.literals, this.offsets, extraBits);
      size = dynamicSize;
      if (tokens.n < MAX_PREDEFINED_TOKENS) {
        const preSize = this.fixedSize(extraBits);
        if (preSize <= size) {
          if (storable && storedSize <= preSize) {
            this.writeStored(input, eof);
            return;
          }
          this.writeFixed(tokens, eof, sync);
          return;
        }
      }
      if (storable && storedSize <= size) {
        this.writeStored(input, eof);
        return;
      }
      this.writeDynamicHeader(numLiterals, numOffsets, numCodegens, eof);
      if (!sync) this.lastHeader = this.headerSize()[0];
      this.lastHuffMan = false;
    }
    if (sync) this.lastHeader = 0;
    this.writeTokens(tokens.tokens, tokens.n, this.literals, this.offsets);
  }

  /**
   * `input` (at most 65,535 bytes) as literals only, Huffman-coded, continuing an open
   * Huffman-only block when its code is estimated good enough, or stored when the bytes look
   * random or storing is smaller.
   */
  writeBlockHuff(eof: boolean, input: Uint8Array, sync: boolean): void {
    const freq = this.literalFreq;
    freq.fill(0);
    for (let i = 0; i < input.length; i++) freq[input[i]!]!++;
    const storable = input.length <= MAX_STORE_BLOCK_SIZE;
    const storedSize = (input.length + 5) * 8;
    if (storable && input.length > 1024) {
      // Close to uniform byte counts: store.
      let abs = 0;
      const avg = input.length / 256;
      const max = input.length * 2;
      for (let i = 0; i < 256; i++) {
        const diff = freq[i]! - avg;
        abs += diff * diff;
        if (abs > max) break;
      }
      if (abs < max) {
        this.writeStored(input, eof);
        return;
      }
    }
    freq[END_BLOCK] = 1;
    const counted = freq.subarray(0, END_BLOCK + 1);
    this.tmpLiterals.generate(counted, 15);
    let estBits = reuseBits(this.tmpLiterals, counted);
    if (estBits < MAX_INT32) {
      estBits += this.lastHeader;
      if (this.lastHeader === 0) estBits += GUESS_HEADER_BITS;
      estBits += estBits >> this.logNewTablePenalty;
    }
    if (storable && storedSize <= estBits) {
      this.writeStored(input, eof);
      return;
    }
    if (this.lastHeader > 0 && estBits < reuseBits(this.literals, freq.subarray(0, 256))) {
      this.writeEOB();
    }
    if (this.lastHeader === 0) {
      const spare = this.literals;
      this.literals = this.tmpLiterals;
      this.tmpLiterals = spare;
      this.generateCodegen(END_BLOCK + 1, 1, this.literals, HUFF_OFFSETS);
      this.codegenCode.generate(this.codegenFreq, 7);
      const [header, numCodegens] = this.headerSize();
      this.writeDynamicHeader(END_BLOCK + 1, 1, numCodegens, eof);
      this.lastHuffMan = true;
      this.lastHeader = header;
    }
    const { code, len } = this.literals;
    for (let i = 0; i < input.length; i++) this.writeBits(code[input[i]!]!, len[input[i]!]!);
    if (eof || sync) {
      this.writeBits(code[END_BLOCK]!, len[END_BLOCK]!);
      this.lastHeader = 0;
      this.lastHuffMan = false;
    }
  }

  /** Writes the open block's end-of-block code, if a block is open. */
  private closeOpenBlock(): void {
    if (this.lastHeader > 0) this.writeEOB();
  }

  /** Ends the open block with its end-of-block code. */
  private writeEOB(): void {
    this.writeBits(this.literals.code[END_BLOCK]!, this.literals.len[END_BLOCK]!);
    this.lastHeader = 0;
  }

  private writeFixedHeader(eof: boolean): void {
    this.closeOpenBlock();
    this.writeBits(eof ? 3 : 2, 3);
  }

  private writeFixed(tokens: FastTokens, eof: boolean, sync: boolean): void {
    this.writeFixedHeader(eof);
    if (!sync) tokens.addEOB();
    this.writeTokens(tokens.tokens, tokens.n, FIXED_LITERALS, FIXED_OFFSETS);
  }

  /** Whether the open block's codes have a code for every symbol the tokens use. */
  private canReuse(tokens: FastTokens): boolean {
    const off = tokens.offHist;
    const ol = this.offsets.len;
    for (let i = 0; i < OFFSET_CODE_COUNT; i++) if (off[i] !== 0 && ol[i] === 0) return false;
    const ll = this.literals.len;
    const extra = tokens.extraHist;
    for (let i = 0; i < MAX_NUM_LIT - 256; i++) {
      if (extra[i] !== 0 && ll[256 + i] === 0) return false;
    }
    const lit = tokens.litHist;
    for (let i = 0; i < 256; i++) if (lit[i] !== 0 && ll[i] === 0) return false;
    return true;
  }

  /**
   * Takes the tokens' histograms as the block's frequencies; returns how many literal/length
   * and distance codes to send (all of them when the block may stay open).
   */
  private indexTokens(tokens: FastTokens, filled: boolean): [number, number] {
    const lit = this.literalFreq;
    lit.set(tokens.litHist);
    lit.set(tokens.extraHist.subarray(0, MAX_NUM_LIT - 256), 256);
    const off = this.offsetFreq;
    off.set(tokens.offHist.subarray(0, OFFSET_CODE_COUNT));
    if (tokens.n === 0) return [0, 0];
    if (this.alwaysEOB) lit[END_BLOCK] = 1;
    else if (filled) return [MAX_NUM_LIT, OFFSET_CODE_COUNT];
    return this.codesInUse();
  }

  /** The extra bits the block's lengths and distances carry. */
  private extraBitSize(): number {
    let total = 0;
    for (let i = 0; i < MAX_NUM_LIT - 257; i++)
      total += this.literalFreq[257 + i]! * LENGTH_EXTRA_BITS[i]!;
    for (let i = 0; i < OFFSET_CODE_COUNT; i++)
      total += this.offsetFreq[i]! * OFFSET_EXTRA_BITS[i]!;
    return total;
  }

  /** The block's size under the fixed codes. */
  private fixedSize(extraBits: number): number {
    return (
      3 +
      FIXED_LITERALS.bitLength(this.literalFreq) +
      FIXED_OFFSETS.bitLength(this.offsetFreq) +
      extraBits
    );
  }
}

/** Bits of `freq` under `code`, or 2^31-1 when a symbol in use has no code. */
function reuseBits(code: HuffmanEncoder, freq: Int32Array): number {
  let total = 0;
  for (let i = 0; i < freq.length; i++) {
    const f = freq[i]!;
    if (f === 0) continue;
    const len = code.len[i]!;
    if (len === 0) return MAX_INT32;
    total += f * len;
  }
  return total;
}
