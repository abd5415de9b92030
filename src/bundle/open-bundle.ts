/**
 * `openBundle`: random access to a bundle's index and chunks, as a chunk store.
 *
 * @module
 */
import {
  type Entry,
  type FileEntry,
  type Reader,
  Uint8ArrayReader,
  ZipReader,
} from '@zip.js/zip.js/lib/zip-core-custom.js';
import {
  BundleError,
  ChunkDigestError,
  ChunkNotFoundError,
  LayerdiffError,
  UsageError,
} from '../errors.js';
import { formatDigest, isDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { quoted } from '../quoted.js';
import type { ChunkReader } from '../store/types.js';
import {
  BUNDLE_INDEX_ENTRY,
  MAX_BUNDLE_CHUNK_BYTES,
  MAX_BUNDLE_INDEX_BYTES,
  parseEntryName,
} from './layout.js';

/** Where a bundle's bytes are: in memory, or any zip.js {@link Reader} (HTTP Range, a file, ...). */
export type BundleSource = Uint8Array | Reader<unknown>;

/** Options of {@link openBundle}. */
export interface OpenBundleOptions {
  /** Hashing for chunk verification. @default webHashProvider() */
  hash?: HashProvider;
  /** Stops reads in progress. */
  signal?: AbortSignal;
}

/**
 * An open bundle: a read-only {@link ChunkReader} over its chunk entries (every read verified
 * against the entry's name), plus its index.
 */
export interface Bundle extends ChunkReader {
  /** Always true: every chunk is hashed and compared with its name before it is returned. */
  readonly verifiesReads: true;
  /**
   * The index bytes (the `index.ldr` entry), read on each call.
   * @throws {@link BundleError} when the entry cannot be read or is larger than it declares.
   */
  root(): Promise<Uint8Array>;
  /** The digests of the chunk entries, in zip order. */
  digests(): string[];
  /** Tells whether the bundle has a chunk entry for a digest (no data is read). */
  has(digest: string): Promise<boolean>;
  /** Number of chunk entries. */
  readonly size: number;
}

/** Turns whatever zip.js (or a sink) threw into a typed error. */
function bundleError(err: unknown, what: string, entry?: string): LayerdiffError {
  if (err instanceof LayerdiffError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BundleError(`${what}: ${message}`, entry, { cause: err });
}

/**
 * Reads an entry's bytes, never more than it declares (a zip bomb stops at the declared size).
 * @returns exactly `entry.uncompressedSize` bytes.
 */
async function readEntry(entry: FileEntry, options: OpenBundleOptions): Promise<Uint8Array> {
  const declared = entry.uncompressedSize;
  // Pieces, not one buffer of the declared size: a declared size costs nothing until bytes arrive.
  const pieces: Uint8Array[] = [];
  let size = 0;
  const sink = new WritableStream<Uint8Array>({
    write(piece) {
      if (size + piece.length > declared) {
        throw new BundleError(`entry inflates past its declared ${declared} bytes`, entry.filename);
      }
      pieces.push(piece);
      size += piece.length;
    },
  });
  try {
    await entry.getData(sink, {
      useWebWorkers: false,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    throw bundleError(err, 'reading the entry', entry.filename);
  }
  if (size !== declared) {
    throw new BundleError(`entry holds ${size} bytes, it declares ${declared}`, entry.filename);
  }
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Checks one central directory entry against the layout and its limits. */
function checkEntry(entry: Entry): { kind: 'index' } | { kind: 'chunk'; digest: string } {
  const name = entry.filename;
  const meaning = entry.directory ? undefined : parseEntryName(name);
  if (!meaning) throw new BundleError('entry name is not part of the bundle layout', name);
  if (entry.encrypted) throw new BundleError('entry is encrypted', name);
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new BundleError(
      `entry uses compression method ${entry.compressionMethod} (only 0, stored, and 8, deflate)`,
      name,
    );
  }
  const limit = meaning.kind === 'index' ? MAX_BUNDLE_INDEX_BYTES : MAX_BUNDLE_CHUNK_BYTES;
  if (!Number.isSafeInteger(entry.uncompressedSize) || entry.uncompressedSize > limit) {
    throw new BundleError(`entry declares ${entry.uncompressedSize} bytes (limit ${limit})`, name);
  }
  if (meaning.kind === 'chunk' && entry.uncompressedSize === 0) {
    throw new BundleError('chunk entry is empty', name);
  }
  return meaning;
}

/**
 * Opens a bundle for random access. Only the zip's central directory is read here; each chunk
 * entry is read when it is asked for, so `reassemble(root, bundle)` (or reading one file's
 * chunks) over an HTTP Range reader fetches only the entries it needs.
 *
 * The central directory is checked first: every entry must be named as the layout says
 * (`index.ldr` once, `chunks/sha256/<64 lowercase hex>`), unencrypted, stored or deflated, and
 * declare at most 16 MiB; names may not repeat. Reads are bounded by the declared sizes, and
 * each chunk is hashed and compared with its name before it is returned.
 *
 * @param source - the zip: bytes, or a zip.js reader such as
 * `new HttpRangeReader(url)` (random access over HTTP) or a `BlobReader` over a lazily read file.
 * @param options - hashing, abort.
 * @returns the bundle, a {@link ChunkReader} with its index.
 * @throws {@link BundleError} for a zip that cannot be read (truncated, not a zip) or breaks the
 * layout. `get` throws {@link ChunkNotFoundError} for a chunk the bundle lacks,
 * {@link ChunkDigestError} for an entry whose bytes do not match its name, and
 * {@link BundleError} for an entry that cannot be read.
 * @example
 * ```ts
 * const bundle = await openBundle(new HttpRangeReader(url));
 * const tar = reassemble(streamOf(await bundle.root()), bundle);
 * ```
 */
export async function openBundle(
  source: BundleSource,
  options: OpenBundleOptions = {},
): Promise<Bundle> {
  const hash = options.hash ?? webHashProvider();
  const reader = source instanceof Uint8Array ? new Uint8ArrayReader(source) : source;
  let entries: Entry[];
  try {
    entries = await new ZipReader(reader, {
      useWebWorkers: false,
      // A local header that disagrees with the central directory (its name included) makes
      // the zip mean different things to different tools: refuse it. Check CRC-32s too.
      checkLocalDirectory: true,
      checkLocalFilename: true,
      checkSignature: true,
    }).getEntries();
  } catch (err) {
    throw bundleError(err, 'not a readable zip');
  }
  let index: FileEntry | undefined;
  const chunks = new Map<string, FileEntry>();
  for (const entry of entries) {
    const meaning = checkEntry(entry);
    const file = entry as FileEntry;
    if (meaning.kind === 'index') {
      if (index) throw new BundleError('the index entry appears twice', entry.filename);
      index = file;
    } else {
      if (chunks.has(meaning.digest)) {
        throw new BundleError('chunk entry appears twice', entry.filename);
      }
      chunks.set(meaning.digest, file);
    }
  }
  if (!index) throw new BundleError(`the bundle has no ${BUNDLE_INDEX_ENTRY} entry`);
  const indexEntry = index;

  const checked = (digest: string): string => {
    if (!isDigest(digest)) throw new UsageError(`not a sha256 digest: ${quoted(digest)}`);
    return digest;
  };

  return {
    verifiesReads: true,
    size: chunks.size,
    root: () => readEntry(indexEntry, options),
    digests: () => [...chunks.keys()],
    async has(digest) {
      return chunks.has(checked(digest));
    },
    async get(digest) {
      const entry = chunks.get(checked(digest));
      if (!entry) throw new ChunkNotFoundError(digest);
      const bytes = await readEntry(entry, options);
      const actual = formatDigest(await hash.digest(bytes));
      if (actual !== digest) {
        throw new ChunkDigestError(
          digest,
          `bundle entry ${quoted(entry.filename)} holds bytes with digest ${actual}`,
        );
      }
      return bytes;
    },
  };
}
