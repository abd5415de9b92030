/**
 * `convert`: a layer blob in, an index out, new chunks into a store. Composed of the public
 * pieces: decompressor (which also takes the diff_id) → one stage that does the work of the
 * tar tokenizer, body chunker, chunk digester, chunk storer, record builder and index encoder
 * (`tarChunkerTransformer` with a `RecordBuilder` and `IndexFrames` as its sink, run by
 * `pacedThrough` so that it runs no further ahead of the index's reader than 256 KiB of index
 * bytes, or one record past them, however large records are)
 * → index chunker.
 *
 * @module
 */
import {
  CDC_ALGORITHM,
  DEFAULT_CHUNKER_PARAMS,
  loadCdcKernel,
  validateChunkerParams,
} from '../cdc/index.js';
import type { CdcKernel, ChunkerParams } from '../cdc/types.js';
import { decompressFrom, type GunzipFactory } from '../compress/decompress.js';
import type { ZstdDecoderOptions } from '../compress/zstd.js';
import { UsageError } from '../errors.js';
import { ConvertEmitter, type ConvertEvents } from '../events/progress.js';
import { IndexFrames } from '../format/encoder.js';
import { type Compression, FORMAT_VERSION, type IndexRecord } from '../format/records.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import type { ChunkWriter } from '../store/types.js';
import { type BuildStats, RecordBuilder } from './build-records.js';
import { ChunkBlocks } from './chunk-blocks.js';
import { createIndexChunker, type IndexChunkStats } from './chunk-index.js';
import { tarChunkerTransformer } from './chunk-tar.js';
import { pacedThrough } from './paced.js';

/**
 * Index bytes a conversion queues for its reader before it waits: a few of the index's pieces
 * (about 64 KiB each), or one large record.
 */
const PACED_INDEX_BYTES = 256 * 1024;

/** Options of {@link createConverter} and {@link convert}. */
export interface ConvertOptions {
  /** Where chunks go; chunks it already holds are not written again. */
  store: ChunkWriter;
  /** Hashing. @default webHashProvider() (the `./node` entry offers a faster one) */
  hash?: HashProvider;
  /** Cut-point kernel. @default the WebAssembly kernel, or the JS one where Wasm cannot be compiled */
  kernel?: CdcKernel | Promise<CdcKernel>;
  /** Chunk size bounds. @default 16/64/256 KiB */
  chunker?: Partial<ChunkerParams>;
  /** Chunks hashed and stored at once. @default 8 */
  concurrency?: number;
  /** Largest extension data (pax, long names) before one tar entry. @default 1 MiB */
  maxHeaderBytes?: number;
  /** The gzip decoder. @default webGunzip (the `./node` entry's nodeGunzip() is faster) */
  gunzip?: GunzipFactory;
  /** zstd decoder limits. */
  zstd?: ZstdDecoderOptions;
  /**
   * What the readable side gives: `'chunked'`, a small root whose index chunks go to the store
   * beside the data (so unchanged metadata dedups too); or `'flat'`, the whole self-contained
   * flat index (docs/FORMAT.md §1–§4). @default 'chunked'
   */
  index?: 'chunked' | 'flat';
  /** Where progress events go. @default a new emitter, returned as {@link Converter.events} */
  events?: ConvertEmitter;
}

/** What a conversion produced. */
export interface ConvertResult extends BuildStats {
  /** The uncompressed tar's digest, `sha256:<hex>` (the OCI diff_id). */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  /** Bytes of the blob as given (compressed or not). */
  bytesIn: number;
  /** How the blob was compressed. */
  compression: Compression;
  /** The compressed blob's digest, `sha256:<hex>`, when it was compressed. */
  blobDigest?: string;
  /** What the chunked index cost (absent for a flat index). */
  index?: IndexChunkStats;
}

/** A converter: write the layer blob in, read the index (root or flat) bytes out. */
export interface Converter {
  writable: WritableStream<Uint8Array>;
  readable: ReadableStream<Uint8Array>;
  /** Resolves with the totals when the index has been read to its end; rejects if the conversion fails. */
  done: Promise<ConvertResult>;
  /** Progress: `phase` and `progress` events (see {@link ConvertEvents}). */
  events: ConvertEmitter;
}

/**
 * Creates a converter: a writable for the layer blob (tar, tar+gzip or tar+zstd, detected)
 * and a readable of the index: by default a small root, emitted at the end, whose index chunks
 * go to the store (see {@link ConvertOptions.index}). Chunks go to `options.store` as they are cut. Memory is
 * bounded by the chunk size limit times the concurrency, whatever the layer size.
 *
 * @param options - store, hashing, chunker and limits.
 * @returns the stream pair and a promise of the totals.
 * @example
 * ```ts
 * const store = new MemoryStore();
 * const conv = createConverter({ store });
 * const index = layerBlob.pipeThrough(conv);
 * await index.pipeTo(indexSink);
 * const { diffId, newBytes } = await conv.done;
 * ```
 */
export function createConverter(options: ConvertOptions): Converter {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  return { writable: input.writable, ...convertFrom(input.readable, options) };
}

/** {@link createConverter} reading `layer` itself: no identity stream in between. */
function convertFrom(
  layer: ReadableStream<Uint8Array>,
  options: ConvertOptions,
): Omit<Converter, 'writable'> {
  const hash = options.hash ?? webHashProvider();
  const params = validateChunkerParams({ ...DEFAULT_CHUNKER_PARAMS, ...options.chunker });
  const kernel = options.kernel ?? loadCdcKernel();
  const concurrency = intOption(options.concurrency, 'concurrency', 8);
  if (options.index !== undefined && options.index !== 'chunked' && options.index !== 'flat') {
    throw new UsageError(`index must be 'chunked' or 'flat', got ${String(options.index)}`);
  }

  const events = options.events ?? new ConvertEmitter();
  const progress = events.current;
  events.setPhase('reading');
  const decompressor = decompressFrom(layer, {
    hash,
    // The diff_id, from the same pass (a tap stage of its own would cost a hop per piece).
    digestTar: true,
    gunzip: options.gunzip,
    // The tar goes straight into this pipeline, whose chunker gives lent buffers back.
    zstd: { recycle: true, ...options.zstd },
    onBytes: (n) => {
      progress.bytesIn += n;
    },
  });
  decompressor.done.then(
    () => events.setPhase('finishing'),
    () => {},
  );
  const blocks = new ChunkBlocks(params.max);
  let result: ConvertResult | undefined;
  let indexStats: IndexChunkStats | undefined;

  // Tokens become records and index bytes inside the tar chunker's stage: a stream hop per
  // token and per record cost small files more than all their other work.
  const builder = new RecordBuilder({
    layer: async () => ({
      type: 'layer',
      version: FORMAT_VERSION,
      chunker: { algorithm: CDC_ALGORITHM, ...params },
      digest: 'sha256',
      compression: await decompressor.compression,
    }),
    trailer: async () => {
      const blob = await decompressor.done;
      const tar = blob.tar!;
      return {
        diffId: tar.digest,
        size: tar.size,
        ...(blob.digest
          ? { blob: { compression: blob.compression, digest: blob.digest, size: blob.size } }
          : {}),
      };
    },
    onProgress: (stats) => {
      progress.entries = stats.entries + stats.deletions;
      progress.chunks = stats.chunks;
      progress.newChunks = stats.newChunks;
      progress.newBytes = stats.newBytes;
      events.changed();
    },
    // Everything the caller is told comes from the end record and the builder's totals.
    onEnd: (stats, end) => {
      result = {
        ...stats,
        diffId: formatDigest(end.diffId),
        tarSize: end.size,
        bytesIn: end.blob?.size ?? end.size,
        compression: end.blob?.compression ?? 'none',
        ...(end.blob ? { blobDigest: formatDigest(end.blob.digest) } : {}),
      };
    },
  });
  const frames = new IndexFrames();
  /** Frames a record; passes index bytes on once about 64 KiB are gathered. Set by `begin`. */
  let record!: (r: IndexRecord) => void;
  // Paced, so that records far larger than their tar bytes (a pax global header's xattrs,
  // copied into every later entry) wait for the reader rather than pile up.
  const flatIndex = pacedThrough(
    decompressor.readable,
    tarChunkerTransformer<Uint8Array>(
      {
        kernel,
        params,
        hash,
        store: options.store,
        blocks,
        concurrency,
        maxHeaderBytes: options.maxHeaderBytes,
      },
      {
        begin: (enqueue) => {
          record = (r) => {
            const piece = frames.add(r);
            if (piece) enqueue(piece);
          };
          return builder.begin(record);
        },
        token: (t) => builder.add(t, record),
        async end(enqueue) {
          await builder.finish(record);
          const piece = frames.end();
          if (piece) enqueue(piece);
        },
      },
    ),
    { highWaterMark: PACED_INDEX_BYTES, size: (piece) => piece.byteLength },
  );
  const output =
    options.index === 'flat'
      ? flatIndex
      : flatIndex.pipeThrough(
          createIndexChunker({
            store: options.store,
            hash,
            kernel,
            onEnd: (stats) => {
              indexStats = stats;
            },
          }),
        );

  let resolve!: (r: ConvertResult) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<ConvertResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {});

  const reader = output.getReader();
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (err) {
        reject(err);
        throw err;
      }
      if (!r.done) {
        controller.enqueue(r.value);
        return;
      }
      try {
        // The index ends only once the store has published every chunk it names.
        await options.store.flush?.();
      } catch (err) {
        reject(err);
        throw err;
      }
      controller.close();
      resolve(indexStats ? { ...result!, index: indexStats } : result!);
      events.setPhase('done');
    },
    cancel(reason) {
      reject(reason);
      return reader.cancel(reason);
    },
  });

  return { readable, done, events };
}

/**
 * Converts a layer blob into index bytes, writing new chunks to `options.store`. The layer is
 * read directly (locked to the conversion): cancelling the index cancels it, and its failure
 * fails the index and `done`.
 * @param layer - the layer blob (tar, tar+gzip or tar+zstd).
 * @param options - store, hashing, chunker and limits.
 * @returns the index bytes (read them to drive the conversion) and a promise of the totals.
 */
export function convert(
  layer: ReadableStream<Uint8Array>,
  options: ConvertOptions,
): { index: ReadableStream<Uint8Array>; done: Promise<ConvertResult>; events: ConvertEmitter } {
  // Read straight from `layer`: a failure of it surfaces on `index` (and `done`).
  const c = convertFrom(layer, options);
  return { index: c.readable, done: c.done, events: c.events };
}
