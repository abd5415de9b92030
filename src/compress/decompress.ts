/**
 * The first stage of a conversion: detect how a layer blob is compressed, decompress it, and
 * digest the compressed bytes (and, if asked, the uncompressed tar) in the same pass.
 *
 * @module
 */
import { readLeading } from '../bytes-stream.js';
import { CompressionError, LayerdiffError } from '../errors.js';
import type { Compression } from '../format/records.js';
import type { TapResult } from '../hash/tap.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { detectCompression, SNIFF_BYTES } from './detect.js';
import { pullThrough } from './lockstep.js';
import { createZstdDecoder, type ZstdDecoderOptions } from './zstd.js';

/** What the decompressor learned about the blob. */
export interface BlobSummary {
  compression: Compression;
  /**
   * Raw SHA-256 of the compressed blob; absent for uncompressed input (it equals the diff_id),
   * and without {@link DecompressorOptions.digestBlob}.
   */
  digest?: Uint8Array;
  /** Bytes of the blob as given. */
  size: number;
  /** Digest and size of the uncompressed tar, with {@link DecompressorOptions.digestTar}. */
  tar?: TapResult;
}

/**
 * A gzip decoder: the bytes of every member of a gzip stream, produced only as they are pulled,
 * so that memory stays bounded whatever the compression ratio. Corrupt input errors the
 * stream with an error whose `code` starts with `Z_` (as zlib's do) or a `TypeError` (as
 * `DecompressionStream`'s do); the decompressor turns those into {@link CompressionError}.
 */
export type GunzipFactory = (compressed: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;

/**
 * The gzip decoder that runs everywhere: the runtime's `DecompressionStream`, driven in
 * lockstep (see `pullThrough`; Node 20's applies no backpressure of its own). The `./node`
 * entry has a faster one over node:zlib, which decodes on the thread pool.
 */
export const webGunzip: GunzipFactory = (compressed) =>
  pullThrough(
    compressed,
    new DecompressionStream('gzip') as TransformStream<Uint8Array, Uint8Array>,
  );

/** Options of {@link createDecompressor}. */
export interface DecompressorOptions {
  /** Hashing for the blob digest. */
  hash: HashProvider;
  /**
   * Digest a compressed blob as it is read ({@link BlobSummary.digest}); `false` for a reader
   * that only wants the tar. @default true
   */
  digestBlob?: boolean;
  /** The gzip decoder. @default webGunzip */
  gunzip?: GunzipFactory;
  /** zstd limits. */
  zstd?: ZstdDecoderOptions;
  /** Called with the length of each piece of the blob as it is read (for progress). */
  onBytes?: (length: number) => void;
  /**
   * Also digest the uncompressed tar (a layer's diff_id) as it comes out, in the same pass;
   * {@link Decompressor.done} then carries it as `tar`.
   */
  digestTar?: boolean;
}

/** A writable/readable pair like a `TransformStream`, plus what it learns on the way. */
export interface Decompressor {
  /** Write the layer blob here (tar, tar+gzip or tar+zstd). */
  writable: WritableStream<Uint8Array>;
  /** The uncompressed tar comes out here. */
  readable: ReadableStream<Uint8Array>;
  /** Resolves as soon as the compression is known (after the first bytes). */
  compression: Promise<Compression>;
  /** Resolves when the blob has been read to its end. */
  done: Promise<BlobSummary>;
}

/**
 * Creates a decompressor that detects gzip and zstd by their magic bytes and passes anything
 * else through unchanged. gzip goes through `options.gunzip` (by default the runtime's
 * `DecompressionStream`); zstd through layerdiff's bounded decoder (`createZstdDecoder`).
 * Corrupt or truncated input errors the readable side with {@link CompressionError}.
 *
 * @param options - hashing and limits.
 * @returns the stream pair, with promises for the detected compression and the blob summary.
 * @example
 * ```ts
 * const d = createDecompressor({ hash: webHashProvider() });
 * const tar = blob.pipeThrough(d);
 * ```
 */
export function createDecompressor(options: DecompressorOptions): Decompressor {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  return { writable: input.writable, ...decompressFrom(input.readable, options) };
}

/**
 * {@link createDecompressor} reading `blob` itself, with no writable side: no stream between
 * the blob and the decoder (the identity `TransformStream` a writable side needs cost a hop
 * per piece). `convert` reads its layer this way.
 *
 * @param blob - the layer blob.
 * @param options - hashing and limits.
 * @returns the uncompressed tar and what was learnt on the way (cancelling it cancels `blob`).
 */
export function decompressFrom(
  blob: ReadableStream<Uint8Array>,
  options: DecompressorOptions,
): Omit<Decompressor, 'writable'> {
  const reader = blob.getReader();
  let resolveCompression!: (c: Compression) => void;
  let resolveDone!: (s: BlobSummary) => void;
  let rejectDone!: (e: unknown) => void;
  let rejectCompression!: (e: unknown) => void;
  const compression = new Promise<Compression>((res, rej) => {
    resolveCompression = res;
    rejectCompression = rej;
  });
  compression.catch(() => {});
  const done = new Promise<BlobSummary>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});

  let kind: Compression | undefined;
  let size = 0;
  let blobHash: IncrementalHash | undefined;
  let inner: PieceReader | undefined;
  let tarHash: IncrementalHash | undefined;
  let tarSize = 0;
  let inputFailure: unknown;

  /** The next piece of the blob (those read while sniffing first), counted and hashed. */
  const nextPiece = async (head: Uint8Array[]): Promise<Uint8Array | undefined> => {
    let next: Uint8Array | undefined;
    try {
      next = head.shift() ?? (await reader.read()).value;
    } catch (err) {
      // The input's own failure (a network error may be a TypeError): passed on as it is,
      // not taken for corrupt gzip.
      inputFailure = err;
      throw err;
    }
    if (next === undefined) return undefined;
    size += next.length;
    options.onBytes?.(next.length);
    if (blobHash) await blobHash.update(next);
    return next;
  };

  async function setup(): Promise<PieceReader> {
    if (options.digestTar) tarHash = await options.hash.create();
    const { pieces: head, head: first } = await readLeading(reader, SNIFF_BYTES);
    kind = detectCompression(first);
    resolveCompression(kind);
    if (kind === 'none') {
      // The blob is the tar: read straight from the input, with no stream in between.
      return {
        read: async () => {
          const value = await nextPiece(head);
          return value ? { done: false, value } : { done: true, value: undefined };
        },
        cancel: (reason) => reader.cancel(reason),
      };
    }
    if (options.digestBlob !== false) blobHash = await options.hash.create();
    const compressed = new ReadableStream<Uint8Array>({
      async pull(c) {
        const next = await nextPiece(head);
        if (next) c.enqueue(next);
        else c.close();
      },
      cancel: (reason) => reader.cancel(reason),
    });
    const out =
      kind === 'gzip'
        ? (options.gunzip ?? webGunzip)(compressed)
        : createZstdDecoder(compressed, options.zstd);
    return out.getReader();
  }

  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        inner ??= await setup();
        const r = await inner.read();
        if (!r.done) {
          if (tarHash) {
            tarSize += r.value.length;
            const wait = tarHash.update(r.value);
            if (wait) await wait;
          }
          controller.enqueue(r.value);
          return;
        }
        controller.close();
        const summary: BlobSummary = { compression: kind!, size };
        if (blobHash) summary.digest = await blobHash.digest();
        if (tarHash) summary.tar = { digest: await tarHash.digest(), size: tarSize };
        resolveDone(summary);
      } catch (err) {
        const e =
          err instanceof LayerdiffError ||
          kind !== 'gzip' ||
          err === inputFailure ||
          !isZlibError(err)
            ? err
            : new CompressionError(
                `gzip: ${(err as Error).message} (compressed bytes read: ${size})`,
                {
                  cause: err,
                },
              );
        rejectDone(e);
        rejectCompression(e); // a no-op once the compression is known
        await reader.cancel(e).catch(() => {});
        throw e;
      }
    },
    cancel(reason) {
      rejectDone(reason);
      rejectCompression(reason);
      return inner ? inner.cancel(reason) : reader.cancel(reason);
    },
  });

  return { readable, compression, done };
}

/** What the decompressor reads the tar from: a stream's reader, or the input's own pieces. */
interface PieceReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
}

function isZlibError(err: unknown): boolean {
  if (err instanceof TypeError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}
