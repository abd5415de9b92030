/**
 * A streaming tar tokenizer: splits a tar byte stream into header, body, padding and tail
 * tokens whose bytes, concatenated, are exactly the input.
 *
 * @module
 */

import { TarFormatError, TarLimitError, TarTruncatedError } from '../errors.js';
import { intOption } from '../options.js';
import { Slabs } from '../slabs.js';
import {
  applyGlobalPax,
  BLOCK_SIZE,
  concatBytes,
  decodeGnuSparseBlock,
  decodeHeaderBlock,
  isExtensionType,
  isZeroBlock,
  type PaxRecord,
  paddingSize,
  parsePaxRecords,
  resolveEntry,
  type TarHeaderBlock,
} from './header.js';
import type { TarToken } from './types.js';

/** Options for {@link createTarTokenizer}. */
export interface TarTokenizerOptions {
  /**
   * Cap on the extension data buffered before one entry's main header: pax `x`/`g` headers
   * with their data and padding, GNU long name/link headers with their data, and old GNU
   * sparse extension blocks. An extension header whose size field would cross the cap is
   * rejected from that field, before any of its data is read. The running set of pax global
   * records is capped at the same number of bytes.
   *
   * @default 1048576 (1 MiB)
   */
  maxHeaderBytes?: number;
}

/** Default for {@link TarTokenizerOptions.maxHeaderBytes}: 1 MiB. */
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

/**
 * Most pax global keywords in effect at once. Each applies to every later entry, so each
 * costs work and memory per entry; real archives set a handful.
 */
export const MAX_GLOBAL_KEYWORDS = 1024;

type Emit = (token: TarToken) => void;

type State = 'header' | 'ext' | 'sparse' | 'body' | 'pad' | 'tail';

const EMPTY = new Uint8Array(0);
// ignoreBOM: a name may begin with U+FEFF, and decoding must not drop it (GNU tar keeps it).
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

function cString(data: Uint8Array): Uint8Array {
  const nul = data.indexOf(0);
  return (nul === -1 ? data : data.subarray(0, nul)).slice();
}

/**
 * The tokenizer's state machine, kept apart from the stream so that it stays synchronous (and
 * so that a conversion can run it inside a stage of its own; see `pipeline/chunk-tar.ts`).
 * `push` takes the next input bytes, `finish` the end of input; both emit tokens as
 * {@link createTarTokenizer} describes.
 */
export class Tokenizer {
  private readonly max: number;
  /** Absolute tar offset of the next input byte. */
  private pos = 0;
  private state: State = 'header';
  private readonly block = new Uint8Array(BLOCK_SIZE);
  /**
   * Where header blocks, extension data and the raw bytes of each entry are kept: a buffer
   * each was most of what reading the headers of small files cost.
   */
  private readonly slabs = new Slabs();
  private fill = 0;

  // Bytes of the entry being assembled (copies), and what they say.
  private raw: Uint8Array[] = [];
  private rawLen = 0;
  private rawStart = 0;
  private extBytes = 0;
  private onlyGlobal = true;
  private localPax: PaxRecord[] = [];
  private longName: Uint8Array | undefined;
  private longLink: Uint8Array | undefined;
  private readonly globals = new Map<string, Uint8Array>();
  /** The global values as text, decoded once per `g` header rather than once per entry. */
  private readonly globalText = new Map<string, string>();
  /** Records of the `g` headers since the last entry, in order. */
  private newGlobals: PaxRecord[] = [];

  // Extension data being read.
  private extType = '';
  private extSize = 0;
  private extData = EMPTY;
  private extFill = 0;
  private extOffset = 0;

  // Main header waiting for old GNU sparse extension blocks.
  private main: TarHeaderBlock | undefined;
  private sparseExtra: Array<[number, number]> = [];

  // Body and padding of the current entry.
  private entryOffset = 0;
  private entryPath = '';
  private bodySize = 0;
  private remaining = 0;
  private padLen = 0;
  private pad = EMPTY;
  private padFill = 0;

  constructor(maxHeaderBytes: number) {
    this.max = maxHeaderBytes;
  }

  push(chunk: Uint8Array, emit: Emit): void {
    let i = 0;
    const len = chunk.length;
    while (i < len) {
      switch (this.state) {
        case 'header':
        case 'sparse': {
          const n = Math.min(BLOCK_SIZE - this.fill, len - i);
          this.block.set(chunk.subarray(i, i + n), this.fill);
          this.fill += n;
          i += n;
          this.pos += n;
          if (this.fill === BLOCK_SIZE) {
            this.fill = 0;
            const blk = this.slabs.copy(this.block);
            if (this.state === 'header') this.onHeaderBlock(blk, this.pos - BLOCK_SIZE, emit);
            else this.onSparseBlock(blk, this.pos - BLOCK_SIZE, emit);
          }
          break;
        }
        case 'ext': {
          const n = Math.min(this.extData.length - this.extFill, len - i);
          this.extData.set(chunk.subarray(i, i + n), this.extFill);
          this.extFill += n;
          i += n;
          this.pos += n;
          if (this.extFill === this.extData.length) this.onExtData();
          break;
        }
        case 'body': {
          const n = Math.min(this.remaining, len - i);
          emit({ type: 'body', bytes: chunk.subarray(i, i + n) });
          this.remaining -= n;
          i += n;
          this.pos += n;
          if (this.remaining === 0) this.startPadding(emit);
          break;
        }
        case 'pad': {
          const need = this.padLen - this.padFill;
          if (this.padFill === 0 && len - i >= need) {
            emit({ type: 'end', padding: chunk.subarray(i, i + need) });
            i += need;
            this.pos += need;
            this.state = 'header';
            break;
          }
          // Padding split between pieces: gathered in a buffer of its own.
          if (this.padFill === 0) this.pad = new Uint8Array(this.padLen);
          const n = Math.min(need, len - i);
          this.pad.set(chunk.subarray(i, i + n), this.padFill);
          this.padFill += n;
          i += n;
          this.pos += n;
          if (this.padFill === this.padLen) {
            emit({ type: 'end', padding: this.pad });
            this.state = 'header';
          }
          break;
        }
        case 'tail': {
          emit({ type: 'tail', bytes: chunk.subarray(i) });
          this.pos += len - i;
          i = len;
          break;
        }
      }
    }
  }

  finish(emit: Emit): void {
    const at = { offset: this.rawLen > 0 ? this.rawStart : this.pos - this.fill };
    switch (this.state) {
      case 'tail':
        return;
      case 'header':
        if (this.fill > 0 && this.onlyGlobal && isZeroBlock(this.block.subarray(0, this.fill))) {
          // Input ends inside what can only be the end-of-archive marker: that is the tail.
          this.addRaw(this.block.slice(0, this.fill), this.pos - this.fill);
          emit({ type: 'tail', bytes: this.takeRaw() });
          this.state = 'tail';
          return;
        }
        if (this.fill > 0) {
          throw new TarTruncatedError(
            `stream ended ${this.fill} bytes into a header block (at byte ${this.pos})`,
            { offset: this.pos - this.fill },
          );
        }
        if (this.rawLen === 0) return;
        if (this.onlyGlobal) {
          // A pax global header with no entry after it: its bytes are part of the tail.
          emit({ type: 'tail', bytes: this.takeRaw() });
          this.state = 'tail';
          return;
        }
        throw new TarTruncatedError(
          `stream ended after extension headers, before the entry they describe (at byte ${this.pos})`,
          at,
        );
      case 'ext':
        throw new TarTruncatedError(
          `stream ended ${this.extFill} of ${this.extData.length} bytes into the data of a typeflag ${JSON.stringify(this.extType)} extension header (at byte ${this.pos})`,
          { offset: this.extOffset },
        );
      case 'sparse':
        throw new TarTruncatedError(
          `stream ended ${this.fill} bytes into a GNU sparse extension block (at byte ${this.pos})`,
          { offset: this.rawStart, path: this.main?.name ?? '' },
        );
      case 'body':
        throw new TarTruncatedError(
          `stream ended ${this.bodySize - this.remaining} of ${this.bodySize} bytes into the body (at byte ${this.pos})`,
          { offset: this.entryOffset, path: this.entryPath },
        );
      case 'pad':
        throw new TarTruncatedError(
          `stream ended ${this.padFill} of ${this.padLen} bytes into the padding after the body (at byte ${this.pos})`,
          { offset: this.entryOffset, path: this.entryPath },
        );
    }
  }

  private addRaw(bytes: Uint8Array, offset: number): void {
    if (this.rawLen === 0) this.rawStart = offset;
    this.raw.push(bytes);
    this.rawLen += bytes.length;
  }

  private takeRaw(): Uint8Array {
    const out = concatBytes(this.raw, this.rawLen, this.slabs.alloc);
    this.raw = [];
    this.rawLen = 0;
    this.extBytes = 0;
    this.onlyGlobal = true;
    this.localPax = [];
    this.longName = undefined;
    this.longLink = undefined;
    this.main = undefined;
    this.sparseExtra = [];
    return out;
  }

  private addExtBytes(n: number, offset: number, path: string | undefined, what: string): void {
    this.extBytes += n;
    if (this.extBytes > this.max) {
      const loc = path === undefined ? { offset } : { offset, path };
      throw new TarLimitError(
        `${what} brings the extension data before one entry to ${this.extBytes} bytes, over maxHeaderBytes ${this.max}`,
        loc,
      );
    }
  }

  private onHeaderBlock(blk: Uint8Array, offset: number, emit: Emit): void {
    if (isZeroBlock(blk)) {
      if (!this.onlyGlobal) {
        throw new TarFormatError(
          `end-of-archive block at byte ${offset} follows extension headers with no entry`,
          { offset: this.rawStart },
        );
      }
      this.addRaw(blk, offset);
      emit({ type: 'tail', bytes: this.takeRaw() });
      this.state = 'tail';
      return;
    }
    const h = decodeHeaderBlock(blk, offset);
    if (isExtensionType(h.typeflag)) {
      const padded = h.size + paddingSize(h.size);
      this.addExtBytes(
        BLOCK_SIZE + padded,
        offset,
        undefined,
        `typeflag ${JSON.stringify(h.typeflag)} extension header of ${h.size} data bytes`,
      );
      this.addRaw(blk, offset);
      if (h.typeflag !== 'g') this.onlyGlobal = false;
      this.extType = h.typeflag;
      this.extSize = h.size;
      this.extData = padded === 0 ? EMPTY : this.slabs.alloc(padded);
      this.extFill = 0;
      this.extOffset = offset;
      this.state = 'ext';
      if (padded === 0) this.onExtData();
      return;
    }
    this.addRaw(blk, offset);
    this.onlyGlobal = false;
    this.main = h;
    if (h.gnuSparse?.isExtended) {
      this.state = 'sparse';
      return;
    }
    this.emitHeader(emit);
  }

  private onSparseBlock(blk: Uint8Array, offset: number, emit: Emit): void {
    const path = this.main?.name ?? '';
    this.addExtBytes(BLOCK_SIZE, offset, path, 'GNU sparse extension block');
    this.addRaw(blk, offset);
    const { map, isExtended } = decodeGnuSparseBlock(blk, { offset, path });
    for (const e of map) this.sparseExtra.push(e);
    if (!isExtended) this.emitHeader(emit);
  }

  private onExtData(): void {
    const data = this.extData.subarray(0, this.extSize);
    if (this.extData.length > 0) this.addRaw(this.extData, this.extOffset + BLOCK_SIZE);
    const loc = { offset: this.extOffset };
    switch (this.extType) {
      case 'g': {
        const records = parsePaxRecords(data, loc);
        applyGlobalPax(this.globals, records);
        for (const r of records) this.newGlobals.push(r);
        let total = 0;
        for (const [k, v] of this.globals) total += k.length + v.length;
        if (total > this.max) {
          throw new TarLimitError(
            `pax global records total ${total} bytes, over maxHeaderBytes ${this.max}`,
            loc,
          );
        }
        // Every later entry carries every global keyword: their number is bounded too.
        if (this.globals.size > MAX_GLOBAL_KEYWORDS) {
          throw new TarLimitError(
            `${this.globals.size} pax global keywords in effect, over ${MAX_GLOBAL_KEYWORDS}`,
            loc,
          );
        }
        this.globalText.clear();
        for (const [k, v] of this.globals) this.globalText.set(k, UTF8.decode(v));
        break;
      }
      case 'L':
        this.longName = cString(data);
        break;
      case 'K':
        this.longLink = cString(data);
        break;
      default: // 'x' and Solaris 'X'
        for (const r of parsePaxRecords(data, loc)) this.localPax.push(r);
    }
    this.extData = EMPTY;
    this.state = 'header';
  }

  private emitHeader(emit: Emit): void {
    const main = this.main!;
    const offset = this.rawStart;
    const entry = resolveEntry(
      main,
      {
        globalPax: this.globals,
        globalText: this.globalText,
        localPax: this.localPax,
        ...(this.longName ? { longName: this.longName } : {}),
        ...(this.longLink ? { longLink: this.longLink } : {}),
        gnuSparseExtra: this.sparseExtra,
      },
      offset,
    );
    if (this.newGlobals.length > 0) {
      const globalPax: Record<string, string> = {};
      for (const r of this.newGlobals) {
        Object.defineProperty(globalPax, r.key, {
          value: UTF8.decode(r.value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      entry.globalPax = globalPax;
      this.newGlobals = [];
    }
    const raw = this.takeRaw();
    emit({ type: 'header', entry, raw, offset });
    this.entryOffset = offset;
    this.entryPath = entry.path;
    this.bodySize = entry.bodySize;
    this.remaining = entry.bodySize;
    if (this.remaining > 0) this.state = 'body';
    else this.startPadding(emit);
  }

  private startPadding(emit: Emit): void {
    const n = paddingSize(this.bodySize);
    if (n === 0) {
      emit({ type: 'end', padding: EMPTY });
      this.state = 'header';
      return;
    }
    this.padLen = n;
    this.padFill = 0;
    this.state = 'pad';
  }
}

/**
 * Creates a stream that splits tar bytes into tokens (see {@link TarToken}): for each entry a
 * `header` (decoded entry plus every raw byte before the body), `body` pieces, and an `end`
 * carrying the block padding as found; then `tail` pieces holding everything from the first
 * all-zero header block to the end of input (end blocks, trailing garbage). Concatenating the
 * `raw`, `body`, `padding` and `tail` bytes of all tokens gives back the input exactly.
 *
 * Input may arrive in pieces of any size. Body and tail tokens are subarrays of the input
 * pieces (not copies), so do not reuse a piece's buffer after writing it. Only header blocks
 * and extension data are buffered, at most `maxHeaderBytes` of them per entry.
 *
 * A pax global header (`g`) is folded into the `raw` of the next entry and its records apply to
 * every later entry; if no entry follows, its bytes start the tail. The stream errors with a
 * {@link TarFormatError} (bad checksum, numeric field or pax record; negative size),
 * a {@link TarLimitError} (extension data over `maxHeaderBytes`, numbers over 2^53-1) or a
 * {@link TarTruncatedError} (input ending inside a header, extension data, body or padding).
 * Input ending at an entry boundary, with no end-of-archive blocks, is accepted.
 *
 * @param options - Limits.
 * @returns A transform stream from tar bytes to tokens.
 * @example
 * ```ts
 * const tokens = tarBytes.pipeThrough(createTarTokenizer());
 * for await (const token of tokens) {
 *   if (token.type === 'header') console.log(token.entry.path, token.entry.size);
 * }
 * ```
 */
export function createTarTokenizer(
  options: TarTokenizerOptions = {},
): TransformStream<Uint8Array, TarToken> {
  const max = intOption(options.maxHeaderBytes, 'maxHeaderBytes', DEFAULT_MAX_HEADER_BYTES, 512);
  const tokenizer = new Tokenizer(max);
  return new TransformStream<Uint8Array, TarToken>({
    transform(chunk, controller) {
      tokenizer.push(chunk, (t) => controller.enqueue(t));
    },
    flush(controller) {
      tokenizer.finish((t) => controller.enqueue(t));
    },
  });
}
