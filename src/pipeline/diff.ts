/**
 * `createDiff`: a layer and the indexes of what the receiver already has in, one ordered byte
 * stream out: the chunks (data and index) those bases lack, each compressed when that pays,
 * then the new layer's index root. Composed of `createConverter` with a chunk writer that
 * emits frames instead of storing.
 *
 * @module
 */
import { readBytes, streamOfBytes } from '../bytes-stream.js';
import { type ChunkCodec, type EncodedChunk, webChunkCodec } from '../compress/chunk-codec.js';
import { ConvertEmitter } from '../events/progress.js';
import { diffHeader, encodeChunkFrame, encodeRootFrame } from '../format/diff.js';
import { parseDigest } from '../hash/digest.js';
import { DigestMap } from '../hash/digest-map.js';
import { webHashProvider } from '../hash/web.js';
import type { ChunkReader, ChunkWriter } from '../store/types.js';
import { type ConvertOptions, type ConvertResult, convert } from './convert.js';
import { indexChunks } from './open-index.js';

/** Options of {@link createDiff}. */
export interface DiffOptions extends Omit<ConvertOptions, 'store' | 'index'> {
  /** Indexes (roots or flat) of the layers the receiver has; their chunks are not sent. */
  bases: ReadonlyArray<Uint8Array | ReadableStream<Uint8Array>>;
  /** Where the bases' index chunks are read from. */
  store: ChunkReader;
  /** Chunk compression; `false` sends chunks as they are. @default webChunkCodec() */
  codec?: ChunkCodec | false;
  /** Bytes the stream buffers ahead of its reader before the conversion waits. @default 1 MiB */
  highWaterMark?: number;
}

/** What a diff holds. */
export interface DiffResult extends ConvertResult {
  /** Bytes of the diff stream. */
  diffBytes: number;
  /** Distinct chunks the bases refer to. */
  baseChunks: number;
  /** Chunks in the diff (data and index), and their uncompressed and sent bytes. */
  sentChunks: number;
  sentBytes: number;
  sentEncodedBytes: number;
}

/**
 * Creates the diff stream of a layer against base indexes. The conversion runs only as the
 * stream is read (it is a single ordered body, fit to `pipe()` into an HTTP upload), with
 * memory bounded by the chunk size times the concurrency, plus one digest per base chunk.
 *
 * @param layer - the layer blob (tar, tar+gzip or tar+zstd).
 * @param options - bases, the store holding their index chunks, and conversion options.
 * @returns the diff bytes, a promise of the totals once they have been read, and progress
 * events (phase `bases`, then as {@link createConverter}).
 * @example
 * ```ts
 * const { stream, done } = createDiff(layerBlob, { bases: [baseRoot], store });
 * // redirect: 'error' keeps Node's fetch from buffering the body for a possible replay.
 * await fetch(url, { method: 'PUT', body: stream, duplex: 'half', redirect: 'error' });
 * ```
 */
export function createDiff(
  layer: ReadableStream<Uint8Array>,
  options: DiffOptions,
): { stream: ReadableStream<Uint8Array>; done: Promise<DiffResult>; events: ConvertEmitter } {
  const events = new ConvertEmitter();
  const hash = options.hash ?? webHashProvider();
  const codec = options.codec ?? webChunkCodec();
  /** Chunks the diff carries or the bases hold. */
  const known = new DigestMap();
  const stats = { diffBytes: 0, baseChunks: 0, sentChunks: 0, sentBytes: 0, sentEncodedBytes: 0 };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Writers waiting for the reader to want more (several chunks are stored at once). */
  const waiting: Array<() => void> = [];
  const wake = () => {
    for (const resume of waiting.splice(0)) resume();
  };

  const emit = async (bytes: Uint8Array) => {
    if (cancelled !== undefined) throw cancelled;
    stats.diffBytes += bytes.length;
    controller.enqueue(bytes);
    while ((controller.desiredSize ?? 1) <= 0) {
      if (cancelled !== undefined) throw cancelled;
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
      });
    }
  };

  const sink: ChunkWriter = {
    async has(digest) {
      return known.has(parseDigest(digest)!);
    },
    async put(digest, bytes) {
      const raw = parseDigest(digest)!;
      if (!known.add(raw, 0)) return false;
      const encoded: EncodedChunk = codec
        ? await codec.encode(bytes)
        : { coding: 'identity', bytes };
      stats.sentChunks++;
      stats.sentBytes += bytes.length;
      stats.sentEncodedBytes += encoded.bytes.length;
      // The frame is a copy: the converter may reuse `bytes` once this returns.
      await emit(encodeChunkFrame(raw, bytes.length, encoded.coding, encoded.bytes));
      return true;
    },
  };

  let resolve!: (r: DiffResult) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<DiffResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {});
  let started = false;
  let cancelled: unknown;
  /** Cancels the converter's index (and so the layer), once the conversion has started. */
  let stopIndex: ((reason: unknown) => void) | undefined;

  /** Streams not yet handed on: cancelled if the diff ends before they are read. */
  const unread = new Set<ReadableStream<Uint8Array>>();
  for (const base of options.bases) if (!(base instanceof Uint8Array)) unread.add(base);
  unread.add(layer);
  const release = (reason: unknown) => {
    for (const s of unread) s.cancel(reason).catch(() => {});
    unread.clear();
  };

  const run = async () => {
    await emit(diffHeader());
    events.setPhase('bases');
    for (const base of options.bases) {
      const bytes = base instanceof Uint8Array ? streamOfBytes(base) : base;
      unread.delete(bytes);
      for await (const c of indexChunks(bytes, options.store, { hash })) {
        if (cancelled !== undefined) throw cancelled;
        known.add(c.ref.digest, 0);
      }
    }
    stats.baseChunks = known.size;
    // The converter reads the layer itself; a failure surfaces on its index, and a cancel of
    // the diff cancels the index, which cancels the layer.
    if (cancelled !== undefined) throw cancelled;
    unread.delete(layer);
    const converter = convert(layer, { ...options, hash, store: sink, index: 'chunked', events });
    const reading = converter.index.getReader();
    stopIndex = (reason) => {
      reading.cancel(reason).catch(() => {});
    };
    const root = await readBytes(reading);
    const result = await converter.done;
    await emit(encodeRootFrame(root));
    return { ...result, ...stats };
  };

  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        wake();
        if (started) return;
        started = true;
        run().then(
          (result) => {
            if (cancelled !== undefined) return;
            controller.close();
            resolve(result);
          },
          (err) => {
            release(err);
            reject(err);
            if (cancelled === undefined) controller.error(err);
          },
        );
      },
      cancel(reason) {
        cancelled = reason ?? new Error('diff stream cancelled');
        reject(cancelled);
        stopIndex?.(cancelled);
        release(cancelled);
        wake();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterMark ?? 1 << 20 }),
  );
  return { stream, done, events };
}
