/**
 * `createIndexChunker`: flat index bytes in, an index root out. The flat index is cut with the
 * content-defined chunker (small bounds, {@link INDEX_CHUNKER_PARAMS}) and every piece goes to
 * the chunk store, so the metadata of unchanged stretches of a layer dedups like its data.
 *
 * @module
 */

import { type Cutter, createCutter } from '../cdc/cutter.js';
import { CDC_ALGORITHM, loadCdcKernel, validateChunkerParams } from '../cdc/index.js';
import type { CdcKernel, ChunkerParams } from '../cdc/types.js';
import { IndexLimitError, RecordFormatError } from '../errors.js';
import { decodeRecord } from '../format/codec.js';
import { INDEX_MAGIC } from '../format/encoder.js';
import { type ChunkRef, FORMAT_VERSION } from '../format/records.js';
import {
  encodeRoot,
  INDEX_CHUNKER_PARAMS,
  MAX_INDEX_LEVELS,
  PACKED_REF_BYTES,
  packRef,
  ROOT_MAX_REFS,
  unpackRef,
} from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import type { ChunkWriter } from '../store/types.js';
import { repeatCheck } from './index-repeats.js';

/** What storing an index cost. */
export interface IndexChunkStats {
  /** Bytes of the flat index. */
  indexBytes: number;
  /** Index chunks referenced (every level). */
  indexChunks: number;
  /** Index chunks the store did not hold before. */
  newIndexChunks: number;
  /** Bytes of those new index chunks. */
  newIndexBytes: number;
  /** Levels of indirection in the root. */
  levels: number;
  /** Bytes of the root. */
  rootBytes: number;
}

/** Options of {@link createIndexChunker}. */
export interface IndexChunkerOptions {
  /** Where the index chunks go. */
  store: ChunkWriter;
  /** Hashing. @default webHashProvider() */
  hash?: HashProvider;
  /** Cut-point kernel. @default the WebAssembly kernel, or the JS one where Wasm cannot be compiled */
  kernel?: CdcKernel | Promise<CdcKernel>;
  /** Index chunk bounds. @default {@link INDEX_CHUNKER_PARAMS} (2/8/32 KiB) */
  chunker?: Partial<ChunkerParams>;
  /** References the root holds before a level of indirection is added. @default 1024 */
  maxRootRefs?: number;
  /** Called once, before the root is emitted, with what the index cost. */
  onEnd?: (stats: IndexChunkStats) => void;
}

/** End records are small; a frame longer than this cannot be the last one. */
const MAX_END_FRAME = 4096;

/**
 * Creates the stream that stores a flat index as chunks and emits its root (one piece, at the
 * end). Memory: one index chunk, plus 36 bytes per index chunk for the references (packed as
 * the root packs them: an object and an array buffer per reference took about 230).
 *
 * @param options - the store, hashing and bounds.
 * @returns a `TransformStream` from flat index bytes to root bytes.
 * @throws (through the stream) {@link RecordFormatError} when the input is not a flat index
 * ending with an end record; {@link IndexLimitError} when it names its chunks again more often
 * than its readers allow (see `repeatCheck`).
 * @example
 * ```ts
 * const root = flatIndex.pipeThrough(createIndexChunker({ store }));
 * ```
 */
export function createIndexChunker(
  options: IndexChunkerOptions,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = options.hash ?? webHashProvider();
  const params = validateChunkerParams({ ...INDEX_CHUNKER_PARAMS, ...options.chunker });
  const maxRootRefs = intOption(options.maxRootRefs, 'maxRootRefs', ROOT_MAX_REFS);
  const stats: IndexChunkStats = {
    indexBytes: 0,
    indexChunks: 0,
    newIndexChunks: 0,
    newIndexBytes: 0,
    levels: 0,
    rootBytes: 0,
  };
  let sink: ChunkSink;
  const frames = new LastFrame();

  const put = async (bytes: Uint8Array): Promise<ChunkRef> => {
    const digest = await hash.digest(bytes);
    stats.indexChunks++;
    if (await options.store.put(formatDigest(digest), bytes)) {
      stats.newIndexChunks++;
      stats.newIndexBytes += bytes.length;
    }
    return { digest, length: bytes.length };
  };

  return new TransformStream({
    async start() {
      sink = new ChunkSink(
        createCutter(await (options.kernel ?? loadCdcKernel()), params),
        params.max,
        put,
      );
    },
    async transform(piece) {
      frames.push(piece);
      stats.indexBytes += piece.length;
      await sink.push(piece);
    },
    async flush(controller) {
      const endBytes = frames.end();
      let packed = await sink.finish();
      // Its readers refuse a flat index that names its chunks again too often.
      const repeats = repeatCheck(stats.indexBytes, params.min);
      for (let at = 0; at < packed.length; at += PACKED_REF_BYTES) {
        const over = repeats(unpackRef(packed, at, at));
        if (over) {
          throw new IndexLimitError(
            `${over}, more than a chunked index may (its entries repeat the same metadata): write a flat index instead (index: 'flat', --flat)`,
          );
        }
      }
      let levels = 0;
      while (packed.length > maxRootRefs * PACKED_REF_BYTES) {
        if (++levels > MAX_INDEX_LEVELS) {
          throw new RecordFormatError(`index needs more than ${MAX_INDEX_LEVELS} levels`, 0);
        }
        await sink.push(packed);
        packed = await sink.finish();
      }
      const refs: ChunkRef[] = [];
      for (let at = 0; at < packed.length; at += PACKED_REF_BYTES) {
        refs.push(unpackRef(packed, at, at));
      }
      const root = encodeRoot({
        version: FORMAT_VERSION,
        digest: 'sha256',
        chunker: { algorithm: CDC_ALGORITHM, ...params },
        size: stats.indexBytes,
        levels,
        refs,
        endBytes,
      });
      stats.levels = levels;
      stats.rootBytes = root.length;
      options.onEnd?.({ ...stats });
      controller.enqueue(root);
    },
  });
}

/** Cuts one byte sequence into chunks and stores each, in order. */
class ChunkSink {
  private buf: Uint8Array;
  private fill = 0;
  /** The references so far, packed (`PACKED_REF_BYTES` each), and how many bytes of them. */
  private refs = new Uint8Array(256 * PACKED_REF_BYTES);
  private refBytes = 0;

  constructor(
    private readonly cutter: Cutter,
    max: number,
    private readonly put: (bytes: Uint8Array) => Promise<ChunkRef>,
  ) {
    this.buf = new Uint8Array(max);
  }

  async push(bytes: Uint8Array): Promise<void> {
    let from = 0;
    for (const cut of this.cutter.push(bytes)) {
      this.take(bytes.subarray(from, cut));
      from = cut;
      await this.flushChunk();
    }
    this.take(bytes.subarray(from));
  }

  /** Ends the sequence: stores its last chunk and returns every reference, packed. */
  async finish(): Promise<Uint8Array> {
    if (this.fill > 0) await this.flushChunk();
    this.cutter.reset();
    const packed = this.refs.slice(0, this.refBytes);
    this.refBytes = 0;
    return packed;
  }

  private take(bytes: Uint8Array): void {
    this.buf.set(bytes, this.fill);
    this.fill += bytes.length;
  }

  private async flushChunk(): Promise<void> {
    const chunk = this.buf.slice(0, this.fill);
    this.fill = 0;
    const ref = await this.put(chunk);
    if (this.refBytes === this.refs.length) {
      const grown = new Uint8Array(2 * this.refs.length);
      grown.set(this.refs);
      this.refs = grown;
    }
    packRef(ref, this.refs, this.refBytes);
    this.refBytes += PACKED_REF_BYTES;
  }
}

/**
 * Walks the frames of a flat index as it streams past and keeps the last one when it is small,
 * so the root can carry a copy of the end record.
 */
class LastFrame {
  /** Bytes seen. */
  private pos = 0;
  /** Bytes still to come of the current part: the magic, a length prefix, or a frame body. */
  private need = INDEX_MAGIC.length;
  private part: 'magic' | 'length' | 'body' = 'magic';
  private prefix = new Uint8Array(4);
  private body: Uint8Array | undefined;
  private bodyAt = 0;

  push(piece: Uint8Array): void {
    let i = 0;
    while (i < piece.length) {
      const n = Math.min(this.need, piece.length - i);
      const bytes = piece.subarray(i, i + n);
      if (this.part === 'magic') {
        const at = INDEX_MAGIC.length - this.need;
        if (bytes.some((b, k) => b !== INDEX_MAGIC[at + k])) {
          throw new RecordFormatError('not a layerdiff index (bad magic)', 0);
        }
      } else if (this.part === 'length') {
        this.prefix.set(bytes, 4 - this.need);
      } else {
        this.body?.set(bytes, this.body.length - this.need);
      }
      this.need -= n;
      i += n;
      if (this.need === 0) this.next(this.pos + i);
    }
    this.pos += piece.length;
  }

  /** Moves to the part that starts at `at`. */
  private next(at: number): void {
    if (this.part === 'length') {
      const len = new DataView(this.prefix.buffer).getUint32(0);
      this.part = 'body';
      this.need = len;
      this.bodyAt = at;
      this.body = len <= MAX_END_FRAME ? new Uint8Array(len) : undefined;
      if (len === 0) throw new RecordFormatError('empty record frame', at - 4);
    } else {
      this.part = 'length';
      this.need = 4;
    }
  }

  /** The last frame's body, which must be an end record. */
  end(): Uint8Array {
    const at = this.bodyAt - 4;
    if (this.part !== 'length' || this.need !== 4 || !this.body || this.bodyAt === 0) {
      throw new RecordFormatError('flat index does not end with a whole end record', this.pos);
    }
    if (decodeRecord(this.body, at).type !== 'end') {
      throw new RecordFormatError('flat index does not end with an end record', at);
    }
    return this.body;
  }
}
