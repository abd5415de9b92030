/**
 * `unbundle`: every chunk a bundle's index needs, verified, into a chunk store.
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { BundleError, ChunkNotFoundError } from '../errors.js';
import { formatDigest, parseDigest } from '../hash/digest.js';
import { DigestMap } from '../hash/digest-map.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { indexChunks } from '../pipeline/open-index.js';
import { holdsIntact } from '../store/read-chunk.js';
import type { ChunkReader, ChunkWriter } from '../store/types.js';
import { type Bundle, type BundleSource, openBundle } from './open-bundle.js';

/** Options of {@link unbundle}. */
export interface UnbundleOptions {
  /** Hashing for chunk verification. @default webHashProvider() */
  hash?: HashProvider;
  /** Stops the work between chunks and reads in progress. */
  signal?: AbortSignal;
}

/** What {@link unbundle} did. */
export interface UnbundleResult {
  /** The index bytes (the bundle's `index.ldr`): keep them to read the layer from the store. */
  root: Uint8Array;
  /** Distinct chunks the index needs (index and data chunks). */
  chunks: number;
  /** Of those, chunks the store lacked and that were written. */
  newChunks: number;
  /** Bytes of the chunks written. */
  newBytes: number;
  /** Chunk entries of the bundle that the index does not need (not written). */
  unusedEntries: number;
}

/** Tells whether a store can also be read. */
const isReader = (store: ChunkWriter): store is ChunkWriter & ChunkReader =>
  typeof (store as Partial<ChunkReader>).get === 'function';

/** The bundle as a reader whose missing chunks are reported as a bundle problem. */
function strict(bundle: Bundle): ChunkReader {
  return {
    verifiesReads: true,
    async get(digest) {
      try {
        return await bundle.get(digest);
      } catch (err) {
        if (err instanceof ChunkNotFoundError) {
          throw new BundleError(`the bundle lacks chunk ${digest}, which its index needs`);
        }
        throw err;
      }
    },
  };
}

/**
 * Ingests a bundle into a chunk store: walks the bundle's index (reading its index chunks from
 * the bundle) and, for every chunk it needs that the store lacks, reads the entry, checks that
 * its bytes hash to its name and only then puts it. A chunk the store already holds is not read
 * from the bundle: the store's copy is read back and checked instead (its length and digest),
 * and replaced from the bundle if it is bad, when the store can be read (a store that can only
 * be written is trusted). Every reference to a chunk must give it the same length. Once it
 * returns, the store holds every chunk the index refers to, and the returned root rebuilds the
 * layer from the store alone.
 *
 * A failure can leave some chunks written, but only chunks whose bytes match their digest.
 *
 * @param source - the zip: bytes, or a zip.js reader (HTTP Range, a file).
 * @param store - where the chunks go.
 * @param options - hashing, abort.
 * @returns the root and counts.
 * @throws {@link BundleError} for an unreadable zip, a name outside the layout, a duplicate,
 * oversized or missing entry (including a chunk the index needs), and for an index that gives
 * a chunk a length it does not have, or two lengths; {@link ChunkDigestError} for
 * a chunk entry whose bytes do not match its name; {@link RecordFormatError} for a malformed index.
 * @example
 * ```ts
 * const { root } = await unbundle(zipBytes, store);
 * const tar = reassemble(streamOf(root), store);
 * ```
 */
export async function unbundle(
  source: BundleSource | Bundle,
  store: ChunkWriter,
  options: UnbundleOptions = {},
): Promise<UnbundleResult> {
  const hash = options.hash ?? webHashProvider();
  const bundle =
    'root' in source && 'digests' in source ? source : await openBundle(source, options);
  const root = await bundle.root();
  const reader = strict(bundle);
  /** The length the index gives each chunk it needs. */
  const needed = new DigestMap();
  let newChunks = 0;
  let newBytes = 0;
  for await (const { ref } of indexChunks(streamOfBytes(root), reader, { hash })) {
    options.signal?.throwIfAborted();
    const digest = formatDigest(ref.digest);
    const length = needed.get(ref.digest);
    if (length !== undefined) {
      if (length !== ref.length) {
        throw new BundleError(`the index gives chunk ${digest} ${length} bytes and ${ref.length}`);
      }
      continue;
    }
    needed.add(ref.digest, ref.length);
    // A copy the store holds is read back and checked (a bad one is replaced below), where
    // the store can be read; where it cannot, it is trusted.
    const held = await store.has(digest);
    if (held && (!isReader(store) || (await holdsIntact(store, ref, hash)))) continue;
    // Verified against its name by the bundle (and its length against the reference here).
    const bytes = await reader.get(digest);
    if (bytes.length !== ref.length) {
      throw new BundleError(
        `chunk ${digest} holds ${bytes.length} bytes, the index says ${ref.length}`,
      );
    }
    if (await store.put(digest, bytes)) {
      newChunks++;
      newBytes += bytes.length;
    }
  }
  await store.flush?.();
  let unusedEntries = 0;
  for (const digest of bundle.digests()) {
    const raw = parseDigest(digest);
    if (!raw || !needed.has(raw)) unusedEntries++;
  }
  return { root, chunks: needed.size, newChunks, newBytes, unusedEntries };
}
