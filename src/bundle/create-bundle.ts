/**
 * `createBundle`: an index and every chunk it needs, streamed out as one zip (docs/FORMAT.md §12).
 *
 * @module
 */

import { Uint8ArrayReader, ZipWriter } from '@zip.js/zip.js/lib/zip-core-custom.js';
import { streamOfBytes } from '../bytes-stream.js';
import { webDeflateRaw } from '../compress/chunk-codec.js';
import { BundleError, UsageError } from '../errors.js';
import { crc32 } from '../hash/crc32.js';
import { formatDigest } from '../hash/digest.js';
import { DigestMap } from '../hash/digest-map.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { indexChunks } from '../pipeline/open-index.js';
import { readChunk } from '../store/read-chunk.js';
import type { ChunkReader } from '../store/types.js';
import { BUNDLE_INDEX_ENTRY, chunkEntryName, MAX_BUNDLE_INDEX_BYTES } from './layout.js';

/**
 * How entries are compressed: `store` never, `deflate` always, `auto` (the default) only when
 * deflate makes the entry at least an eighth smaller (random data is detected from a sample
 * and stored without compressing it whole).
 */
export type BundleCompression = 'auto' | 'deflate' | 'store';

/** One entry written to a bundle, as reported to {@link CreateBundleOptions.onEntry}. */
export interface BundleEntryInfo {
  /** The entry's name. */
  name: string;
  /** What it holds. */
  kind: 'index' | 'index-chunk' | 'data-chunk';
  /** Its bytes, uncompressed. */
  size: number;
  /** Its bytes as stored in the zip. */
  storedSize: number;
}

/** Options of {@link createBundle}. */
export interface CreateBundleOptions {
  /** Hashing for chunk verification. @default webHashProvider() */
  hash?: HashProvider;
  /** Entry compression. @default 'auto' */
  compression?: BundleCompression;
  /** Called after each entry is handed to the zip writer. */
  onEntry?: (entry: BundleEntryInfo) => void;
  /** Stops the bundle (the stream errors with the signal's reason). */
  signal?: AbortSignal;
}

/** MS-DOS date and time of every entry, 1980-01-01 00:00: bundles of one index are identical. */
const ENTRY_DOS_TIME = (((1980 - 1980) << 9) | (1 << 5) | 1) << 16;

/** Bytes of the sample compressed first to detect data that does not compress. */
const SAMPLE_BYTES = 8192;

/** Compressed when that is asked for and (for `auto`) worth it; otherwise `undefined`. */
async function compressed(
  bytes: Uint8Array,
  mode: BundleCompression,
): Promise<Uint8Array | undefined> {
  if (mode === 'store' || bytes.length === 0) return undefined;
  if (mode === 'deflate') return webDeflateRaw(bytes);
  if (bytes.length > SAMPLE_BYTES * 2) {
    const sample = await webDeflateRaw(bytes.subarray(0, SAMPLE_BYTES));
    if (sample.length > SAMPLE_BYTES - SAMPLE_BYTES / 16) return undefined;
  }
  const out = await webDeflateRaw(bytes);
  return out.length <= bytes.length - bytes.length / 8 ? out : undefined;
}

/**
 * Streams a **bundle**: one zip holding an index and every chunk it needs, each once, so that a
 * layer travels as one standard file. The first entry is `index.ldr` (the index bytes as given),
 * then `chunks/sha256/<hex>` for each distinct chunk (index chunks and data chunks) in the
 * order a reader first needs them. Every chunk is read from the store and verified before it is
 * written; one chunk is held at a time, and nothing is read before the consumer pulls. Zip64 is
 * used when the zip needs it (over 4 GiB or 65,535 entries).
 *
 * The stream errors with {@link ChunkNotFoundError} or {@link ChunkDigestError} for a missing or
 * corrupt chunk, {@link RecordFormatError} for a malformed index, and {@link BundleError} for an
 * index too large for a bundle (over 16 MiB: bundle a root, not a large flat index).
 *
 * @param index - the index bytes: a root (as `convert` writes) or a flat index.
 * @param store - where its chunks are.
 * @param options - hashing, compression, progress, abort.
 * @returns the zip's bytes.
 * @example
 * ```ts
 * await createBundle(root, store).pipeTo(destination);
 * ```
 */
export function createBundle(
  index: Uint8Array,
  store: ChunkReader,
  options: CreateBundleOptions = {},
): ReadableStream<Uint8Array> {
  const hash = options.hash ?? webHashProvider();
  const mode = options.compression ?? 'auto';
  if (mode !== 'auto' && mode !== 'deflate' && mode !== 'store') {
    throw new UsageError(`compression must be auto, deflate or store, got ${String(mode)}`);
  }
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  /** True while the consumer has asked for a piece not yet given. */
  let demand = false;
  /** Resolves the wait of a write blocked on the consumer's demand. */
  let wake: (() => void) | undefined;
  let cancelled: { reason: unknown } | undefined;
  let started = false;

  // The zip writer writes here; each piece waits for the consumer to ask for it, so nothing is
  // queued ahead of demand and the writer (and so the chunk reads) keep the consumer's pace.
  const sink = new WritableStream<Uint8Array>({
    async write(piece) {
      while (!demand && !cancelled) {
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
      if (cancelled) throw cancelled.reason ?? new Error('bundle stream cancelled');
      demand = false;
      controller.enqueue(piece);
    },
    close() {
      if (!cancelled) controller.close();
    },
  });

  const add = async (
    zip: ZipWriter<unknown>,
    name: string,
    kind: BundleEntryInfo['kind'],
    bytes: Uint8Array,
  ) => {
    options.signal?.throwIfAborted();
    const packed = await compressed(bytes, mode);
    await zip.add(name, new Uint8ArrayReader(packed ?? bytes), {
      passThrough: true,
      compressionMethod: packed ? 8 : 0,
      uncompressedSize: bytes.length,
      crc32: crc32(bytes),
      dataDescriptor: false,
      rawLastModDate: ENTRY_DOS_TIME,
      extendedTimestamp: false,
    });
    options.onEntry?.({ name, kind, size: bytes.length, storedSize: (packed ?? bytes).length });
  };

  const run = async () => {
    if (index.length > MAX_BUNDLE_INDEX_BYTES) {
      throw new BundleError(
        `index of ${index.length} bytes exceeds the ${MAX_BUNDLE_INDEX_BYTES}-byte limit of a bundle's index (bundle a root)`,
        BUNDLE_INDEX_ENTRY,
      );
    }
    const zip = new ZipWriter(sink, { useWebWorkers: false, keepOrder: true });
    await add(zip, BUNDLE_INDEX_ENTRY, 'index', index);
    const seen = new DigestMap();
    for await (const { kind, ref } of indexChunks(streamOfBytes(index), store, { hash })) {
      if (!seen.add(ref.digest, 0)) continue;
      const digest = formatDigest(ref.digest);
      const bytes = await readChunk(store, ref, hash);
      await add(
        zip,
        chunkEntryName(digest),
        kind === 'index' ? 'index-chunk' : 'data-chunk',
        bytes,
      );
    }
    await zip.close();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        if (!started) {
          started = true;
          run().catch((err) => {
            if (!cancelled) controller.error(err);
          });
        }
        demand = true;
        wake?.();
        wake = undefined;
      },
      cancel(reason) {
        cancelled = { reason };
        wake?.();
        wake = undefined;
      },
    },
    { highWaterMark: 0 },
  );
}
