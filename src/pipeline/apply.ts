/**
 * `applyDiff`: the receiving side of a diff stream. Every chunk is decompressed (bounded) and
 * verified against its digest before it goes into the store, so a corrupt or truncated diff
 * never leaves a chunk whose bytes do not match its name; at the end, every chunk the new
 * index refers to must be in the store.
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { type ChunkCodec, webChunkCodec } from '../compress/chunk-codec.js';
import {
  ChunkDigestError,
  type ChunkNotFoundError,
  DiffFormatError,
  DiffIncompleteError,
  LayerdiffError,
} from '../errors.js';
import { createDiffDecoder } from '../format/diff.js';
import { decodeRoot } from '../format/root.js';
import { digestsEqual, formatDigest } from '../hash/digest.js';
import { DigestMap } from '../hash/digest-map.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { holdsIntact } from '../store/read-chunk.js';
import type { ChunkStore } from '../store/types.js';
import { indexChunks } from './open-index.js';

/** Options of {@link applyDiff}. */
export interface ApplyOptions {
  /** Hashing. @default webHashProvider() */
  hash?: HashProvider;
  /** Chunk decompression. @default webChunkCodec() */
  codec?: ChunkCodec;
}

/** What applying a diff did. */
export interface ApplyResult {
  /** The new layer's index root: store it; it rebuilds the layer from the store. */
  root: Uint8Array;
  /** The layer's diff_id, `sha256:<hex>`. */
  diffId: string;
  /** Chunks in the diff, and how many of them the store did not hold yet. */
  chunks: number;
  newChunks: number;
  /** Uncompressed bytes of the new chunks. */
  newBytes: number;
  /** Chunks the index refers to (data and index, with repeats), all checked present. */
  referenced: number;
}

/**
 * Ingests a diff stream into a store.
 *
 * @param diff - the diff bytes.
 * @param store - the receiving store; it must already hold what the diff's bases held.
 * @param options - hashing and decompression.
 * @returns the new index root and totals.
 * @throws {@link DiffFormatError} for a malformed or truncated stream,
 * {@link ChunkDigestError} (or {@link CompressionError}) for a chunk that does not match its
 * digest, {@link DiffIncompleteError} when chunks the index needs are missing, and the errors
 * of reading the index ({@link RecordFormatError}).
 */
export async function applyDiff(
  diff: ReadableStream<Uint8Array>,
  store: ChunkStore,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const hash = options.hash ?? webHashProvider();
  const codec = options.codec ?? webChunkCodec();
  const frames = diff.pipeThrough(createDiffDecoder()).getReader();
  let chunks = 0;
  let newChunks = 0;
  let newBytes = 0;
  let root: Uint8Array | undefined;
  let rootOffset = 0;
  /**
   * Chunks seen in this diff, with their sizes: a repeat is refused (it would only cost the
   * receiver work).
   */
  const seenInDiff = new DigestMap();
  try {
    for (;;) {
      const { done, value: f } = await frames.read();
      if (done) break;
      if (f.type === 'root') {
        root = f.root;
        rootOffset = f.offset;
        continue;
      }
      const digest = formatDigest(f.digest);
      if (!seenInDiff.add(f.digest, f.size)) {
        throw new DiffFormatError(`chunk ${digest} appears twice`, f.offset);
      }
      let bytes: Uint8Array;
      try {
        bytes = await codec.decode({ coding: f.coding, bytes: f.bytes }, f.size);
      } catch (err) {
        if (!(err instanceof LayerdiffError)) throw err;
        throw new ChunkDigestError(digest, `diff offset ${f.offset}: ${err.message}`);
      }
      if (bytes.length !== f.size) {
        throw new ChunkDigestError(
          digest,
          `diff offset ${f.offset}: decodes to ${bytes.length} bytes, frame says ${f.size}`,
        );
      }
      if (!digestsEqual(await hash.digest(bytes), f.digest)) {
        throw new ChunkDigestError(
          digest,
          `diff offset ${f.offset}: bytes do not match the digest`,
        );
      }
      chunks++;
      let stored = await store.put(digest, bytes);
      if (
        !stored &&
        !(await holdsIntact(store, { digest: f.digest, length: bytes.length }, hash))
      ) {
        // The store's copy is corrupt: a store that sets corrupt copies aside (as FsStore
        // and PackStore do when a read fails verification) takes the good bytes now.
        stored = await store.put(digest, bytes);
      }
      if (stored) {
        newChunks++;
        newBytes += bytes.length;
      }
    }
  } catch (err) {
    await frames.cancel(err).catch(() => {});
    throw err;
  }
  // The decoder guarantees a root frame at the end.
  const rootBytes = root!;
  const decoded = decodeRoot(rootBytes);
  let referenced = 0;
  let missing = 0;
  let first = '';
  /** The length the index gives each data chunk. */
  const seen = new DigestMap();
  try {
    // Reading the index fetches (and verifies) its index chunks; data chunks are checked by
    // presence: the store only ever holds verified chunks written by this or another apply.
    // Their lengths must agree with each other, and with the diff's frames for those it carries.
    for await (const c of indexChunks(streamOfBytes(rootBytes), store, { hash })) {
      referenced++;
      if (c.kind !== 'data') continue;
      const length = seen.get(c.ref.digest) ?? seenInDiff.get(c.ref.digest);
      const d = formatDigest(c.ref.digest);
      if (length !== undefined && length !== c.ref.length) {
        throw new DiffFormatError(
          `the index gives chunk ${d} ${c.ref.length} bytes, where it has ${length}`,
          rootOffset,
        );
      }
      if (!seen.add(c.ref.digest, c.ref.length)) continue;
      // A store may say no of a copy it only suspects (a pack store's record listed bad, which
      // a damaged or planted list may name wrongly): read back, it counts if it verifies.
      if (!(await store.has(d)) && !(await holdsIntact(store, c.ref, hash))) {
        missing++;
        first ||= d;
      }
    }
  } catch (err) {
    if (err instanceof LayerdiffError && err.code === 'ERR_CHUNK_NOT_FOUND') {
      throw new DiffIncompleteError(1, (err as ChunkNotFoundError).digest);
    }
    throw err;
  }
  if (missing > 0) throw new DiffIncompleteError(missing, first);
  await store.flush?.();
  return {
    root: rootBytes,
    diffId: formatDigest(decoded.end.diffId),
    chunks,
    newChunks,
    newBytes,
    referenced,
  };
}
