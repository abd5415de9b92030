/**
 * `openBundle`: random access to a bundle's index and chunks, as a chunk store.
 *
 * @module
 */
import {
  type Entry,
  type Reader,
  Uint8ArrayReader,
  ZipReader,
} from '@zip.js/zip.js/lib/zip-core-custom.js';
import { inflateRawExact } from '../compress/inflate-raw.js';
import {
  BundleError,
  ChunkDigestError,
  ChunkNotFoundError,
  LayerdiffError,
  UsageError,
} from '../errors.js';
import { crc32 } from '../hash/crc32.js';
import { formatDigest, isDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { quoted } from '../quoted.js';
import type { ChunkReader } from '../store/types.js';
import {
  dataDescriptorAgrees,
  descriptorInStoredData,
  isDataDescriptorLength,
} from './data-descriptor.js';
import { checkEntriesApart, type EntryLimits, type EntryPlace } from './entry-place.js';
import {
  BUNDLE_INDEX_ENTRY,
  MAX_BUNDLE_CHUNK_BYTES,
  MAX_BUNDLE_INDEX_BYTES,
  parseEntryName,
} from './layout.js';
import { localSizesDisagree } from './local-sizes.js';

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
  return new BundleError(`${what}: ${message(err)}`, entry, { cause: err });
}

/** Entries a bundle may have, at most: memory taken by the directory stays bounded. */
export const MAX_BUNDLE_ENTRIES = 2_097_152;

/** Reads `length` bytes at `offset` of the zip, checked to be within it. */
async function readAt(reader: Reader<unknown>, offset: number, length: number, name: string) {
  if (offset + length > reader.size) {
    throw new BundleError(`entry reaches past the end of the zip (${reader.size} bytes)`, name);
  }
  const bytes = await reader.readUint8Array(offset, length);
  if (bytes.length !== length) throw new BundleError('the zip gave fewer bytes than asked', name);
  return bytes;
}

/**
 * Reads an entry's bytes: its local header checked against the central directory (signature,
 * method, name, CRC-32 and sizes), its data (after the local extra field) ending exactly at
 * the entry's limit or, where its local header says a data descriptor follows, at one that
 * agrees with the central directory and ends there; inflated never past the size it declares
 * (a zip bomb stops there), its deflate stream ending exactly where its data ends; its CRC-32
 * checked.
 * @returns exactly `e.uncompressedSize` bytes.
 */
async function readEntry(
  reader: Reader<unknown>,
  e: EntryPlace,
  limits: EntryLimits,
  options: OpenBundleOptions,
): Promise<Uint8Array> {
  options.signal?.throwIfAborted();
  const fail = (why: string) => new BundleError(why, e.name);
  try {
    const head = await readAt(reader, e.offset, 30, e.name);
    const view = new DataView(head.buffer, head.byteOffset, 30);
    if (view.getUint32(0, true) !== 0x04034b50)
      throw fail('no local header where the directory says');
    if (view.getUint16(6, true) & 1) throw fail('entry is encrypted');
    if (view.getUint16(8, true) !== (e.deflated ? 8 : 0)) {
      throw fail('local header names another compression method than the directory');
    }
    const nameLength = view.getUint16(26, true);
    const extraLength = view.getUint16(28, true);
    const nameAndExtra = await readAt(reader, e.offset + 30, nameLength + extraLength, e.name);
    if (new TextDecoder().decode(nameAndExtra.subarray(0, nameLength)) !== e.name) {
      throw fail('local header names another entry than the directory');
    }
    const disagreement = localSizesDisagree(view, nameAndExtra.subarray(nameLength), e);
    if (disagreement) {
      throw fail(`${disagreement}: readers that walk local headers read the entry another way`);
    }
    const start = e.offset + 30 + nameLength + extraLength;
    const limit = limits.limitOf(e.offset);
    const end = start + e.compressedSize;
    if (end > limit) {
      throw fail(
        `entry's data, after its local extra field, ends at byte ${end}, past the next entry or the central directory (at byte ${limit})`,
      );
    }
    // What lies between the data and the limit: nothing, or the data descriptor the local
    // header announces. Anything else is bytes no entry holds.
    const after = limit - end;
    const described = (view.getUint16(6, true) & 8) !== 0;
    if (described ? !isDataDescriptorLength(after) : after !== 0) {
      throw fail(
        `entry's data ends at byte ${end}, ${after} bytes before the next entry or the central directory (at byte ${limit}), and ${
          described
            ? 'no data descriptor is that long'
            : 'its local header announces no data descriptor'
        }: bytes no entry holds`,
      );
    }
    const read = await readAt(reader, start, e.compressedSize + after, e.name);
    if (described && !dataDescriptorAgrees(read.subarray(e.compressedSize), e)) {
      throw fail(
        `entry's data descriptor (at byte ${end}) does not give the CRC-32 and sizes the central directory gives`,
      );
    }
    const data = read.subarray(0, e.compressedSize);
    if (described && !e.deflated) {
      const hidden = descriptorInStoredData(data);
      if (hidden !== undefined) {
        throw fail(
          `entry is stored with a data descriptor after it, and its data holds one at byte ${start + hidden} that a reader scanning for it ends the entry at`,
        );
      }
    }
    options.signal?.throwIfAborted();
    let bytes = data;
    if (e.deflated) {
      try {
        bytes = inflateRawExact(data, e.uncompressedSize);
      } catch (err) {
        throw fail(
          `entry does not inflate to exactly its declared ${e.uncompressedSize} bytes: ${message(err)}`,
        );
      }
    } else if (bytes.length !== e.uncompressedSize) {
      throw fail(`entry holds ${bytes.length} bytes, it declares ${e.uncompressedSize}`);
    }
    if (crc32(bytes) !== e.crc) throw fail('entry bytes fail their CRC-32');
    return bytes;
  } catch (err) {
    throw bundleError(err, 'reading the entry', e.name);
  }
}

/**
 * What an error says, whatever was thrown; with zip.js's reason when it refuses an ambiguous
 * zip (its message alone is `Ambiguous archive`).
 */
function message(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const reason: unknown = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' ? `${err.message} (${reason})` : err.message;
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
  // Deflate adds at most 5 bytes a 16 KiB stored block; stored data is its own size.
  const packed =
    entry.compressionMethod === 0 ? entry.uncompressedSize : limit + (limit >> 10) + 64;
  if (!Number.isSafeInteger(entry.compressedSize) || entry.compressedSize > packed) {
    throw new BundleError(`entry declares ${entry.compressedSize} compressed bytes`, name);
  }
  if (entry.signature === undefined) throw new BundleError('entry has no CRC-32', name);
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
 * declare at most 16 MiB; names may not repeat. The zip must be one that zip readers cannot
 * read two ways, as every zip a bundle writer makes is: nothing before or after it, end records
 * that agree, no two entries sharing bytes and no bytes between entries (checked from the
 * central directory at open, to within what local extra fields and data descriptors may fill,
 * and exactly for each entry when it is read). Reads are bounded by the declared sizes, and
 * each chunk is hashed and compared with its name before it is returned.
 *
 * @param source - the zip: bytes, or a zip.js reader such as
 * `new HttpRangeReader(url)` (random access over HTTP) or a `BlobReader` over a lazily read file.
 * @param options - hashing, abort.
 * @returns the bundle, a {@link ChunkReader} with its index.
 * @throws {@link BundleError} for a zip that cannot be read (truncated, not a zip), is
 * ambiguous, or breaks the layout. `get` throws {@link ChunkNotFoundError} for a chunk the
 * bundle lacks, {@link ChunkDigestError} for an entry whose bytes do not match its name, and
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
  let index: EntryPlace | undefined;
  const chunks = new Map<string, EntryPlace>();
  let count = 0;
  // One entry at a time, each checked and cut down to its place: a local header that
  // disagrees with the central directory (its name included) makes the zip mean different
  // things to different tools, and is refused when the entry is read. zip.js's strict mode
  // refuses the rest of what other tools could read another way (data before or after the
  // zip, between the directory and its end record, or end records that disagree); it reads no
  // more of the zip than the default mode.
  const zip = new ZipReader(reader, { useWebWorkers: false, strictness: 'strict' });
  const entries = zip.getEntriesGenerator();
  for (;;) {
    let next: IteratorResult<Entry>;
    try {
      next = await entries.next();
    } catch (err) {
      throw bundleError(err, 'not a readable zip');
    }
    if (next.done) break;
    const entry = next.value;
    if (++count > MAX_BUNDLE_ENTRIES) {
      throw new BundleError(`the bundle has more than ${MAX_BUNDLE_ENTRIES} entries`);
    }
    const meaning = checkEntry(entry);
    const place: EntryPlace = {
      name: entry.filename,
      offset: entry.offset,
      compressedSize: entry.compressedSize,
      uncompressedSize: entry.uncompressedSize,
      deflated: entry.compressionMethod === 8,
      crc: entry.signature!,
    };
    if (meaning.kind === 'index') {
      if (index) throw new BundleError('the index entry appears twice', entry.filename);
      index = place;
    } else {
      if (chunks.has(meaning.digest)) {
        throw new BundleError('chunk entry appears twice', entry.filename);
      }
      chunks.set(meaning.digest, place);
    }
  }
  if (!index) throw new BundleError(`the bundle has no ${BUNDLE_INDEX_ENTRY} entry`);
  const indexEntry = index;
  const limits = checkEntriesApart(
    function* () {
      yield indexEntry;
      yield* chunks.values();
    },
    count,
    zip.directoryOffset ?? reader.size,
  );

  const checked = (digest: string): string => {
    if (!isDigest(digest)) throw new UsageError(`not a sha256 digest: ${quoted(digest)}`);
    return digest;
  };

  return {
    verifiesReads: true,
    size: chunks.size,
    root: () => readEntry(reader, indexEntry, limits, options),
    digests: () => [...chunks.keys()],
    async has(digest) {
      return chunks.has(checked(digest));
    },
    async get(digest) {
      const entry = chunks.get(checked(digest));
      if (!entry) throw new ChunkNotFoundError(digest);
      const bytes = await readEntry(reader, entry, limits, options);
      const actual = formatDigest(await hash.digest(bytes));
      if (actual !== digest) {
        throw new ChunkDigestError(
          digest,
          `bundle entry ${quoted(entry.name)} holds bytes with digest ${actual}`,
        );
      }
      return bytes;
    },
  };
}
