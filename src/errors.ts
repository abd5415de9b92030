/**
 * Errors thrown by layerdiff. Every error is a {@link LayerdiffError} with a stable string
 * `code`; there is one subclass per failure kind, and messages say what was wrong and where
 * (entry path, byte offset, digest).
 *
 * @module
 */
import { quoted } from './quoted.js';

/** Stable error codes. One code per failure kind; never matched by message text. */
export type ErrorCode =
  | 'ERR_TAR_FORMAT'
  | 'ERR_TAR_LIMIT'
  | 'ERR_TAR_TRUNCATED'
  | 'ERR_COMPRESSION'
  | 'ERR_RECORD_FORMAT'
  | 'ERR_INDEX_LIMIT'
  | 'ERR_CHUNK_NOT_FOUND'
  | 'ERR_CHUNK_DIGEST'
  | 'ERR_LAYER_DIGEST'
  | 'ERR_ENTRY_DATA'
  | 'ERR_CHUNKER_PARAMS'
  | 'ERR_WASM_UNAVAILABLE'
  | 'ERR_HASH_WORKER'
  | 'ERR_DEFLATE_WORKER'
  | 'ERR_STORE'
  | 'ERR_STORE_DAMAGED'
  | 'ERR_PACK_FORMAT'
  | 'ERR_STORE_LOCKED'
  | 'ERR_USAGE'
  | 'ERR_UNSAFE_PATH'
  | 'ERR_EXTRACT'
  | 'ERR_DIFF_FORMAT'
  | 'ERR_DIFF_INCOMPLETE'
  | 'ERR_BUNDLE'
  | 'ERR_OCI_FORMAT'
  | 'ERR_OCI_MEDIA_TYPE'
  | 'ERR_OCI_BLOB_NOT_FOUND'
  | 'ERR_OCI_DIGEST'
  | 'ERR_OCI_LIMIT'
  | 'ERR_OCI_REF_NOT_FOUND'
  | 'ERR_OCI_PLATFORM'
  | 'ERR_REGISTRY'
  | 'ERR_REGISTRY_AUTH';

/** Base class of every error layerdiff throws. Branch on {@link LayerdiffError.code}. */
export class LayerdiffError extends Error {
  /** A stable, machine-readable code naming the failure kind. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Where in a tar stream a problem was found. */
export interface TarLocation {
  /** Byte offset in the uncompressed tar of the header block being read. */
  offset: number;
  /** Path of the entry, when its header was decoded far enough to know it. */
  path?: string;
}

function where(loc: TarLocation): string {
  return loc.path === undefined
    ? `at tar offset ${loc.offset}`
    : `in entry ${JSON.stringify(loc.path)} at tar offset ${loc.offset}`;
}

/** The tar stream is malformed: bad checksum, bad numeric field, bad pax record, and so on. */
export class TarFormatError extends LayerdiffError {
  /** Where the malformed data was found. */
  readonly location: TarLocation;
  constructor(message: string, location: TarLocation) {
    super('ERR_TAR_FORMAT', `${message} ${where(location)}`);
    this.location = location;
  }
}

/** A tar extension (pax record, GNU long name, sparse map) exceeds a configured size limit. */
export class TarLimitError extends LayerdiffError {
  /** Where the oversized data was found. */
  readonly location: TarLocation;
  constructor(message: string, location: TarLocation) {
    super('ERR_TAR_LIMIT', `${message} ${where(location)}`);
    this.location = location;
  }
}

/** The tar stream ended in the middle of a header or an entry body. */
export class TarTruncatedError extends LayerdiffError {
  /** Where the stream ended. */
  readonly location: TarLocation;
  constructor(message: string, location: TarLocation) {
    super('ERR_TAR_TRUNCATED', `${message} ${where(location)}`);
    this.location = location;
  }
}

/** Compressed input (gzip, zstd) is corrupt, truncated or exceeds a limit. */
export class CompressionError extends LayerdiffError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_COMPRESSION', message, options);
  }
}

/** An encoded index (records) is malformed, truncated, or of an unsupported version. */
export class RecordFormatError extends LayerdiffError {
  /** Byte offset in the index stream of the frame being decoded. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('ERR_RECORD_FORMAT', `${message} at index offset ${offset}`);
    this.offset = offset;
  }
}

/** A chunk referenced by an index is not in the store. */
export class ChunkNotFoundError extends LayerdiffError {
  /** The missing chunk's digest, `sha256:<hex>`. */
  readonly digest: string;
  constructor(digest: string) {
    super('ERR_CHUNK_NOT_FOUND', `chunk ${digest} is not in the store`);
    this.digest = digest;
  }
}

/** Bytes read back for a chunk do not match its digest or its recorded length. */
export class ChunkDigestError extends LayerdiffError {
  /** The digest the chunk was stored under, `sha256:<hex>`. */
  readonly digest: string;
  constructor(digest: string, detail: string) {
    super('ERR_CHUNK_DIGEST', `chunk ${digest} failed verification: ${detail}`);
    this.digest = digest;
  }
}

/** A reassembled layer does not match the diff_id or size its index records. */
export class LayerDigestError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_LAYER_DIGEST', message);
  }
}

/**
 * An entry's body does not fit its metadata in a way only reading the body shows: a sparse
 * map (in the headers or at the start of the body) that is malformed, out of order, beyond
 * the file's size, too long, or that does not cover exactly the stored data.
 */
export class EntryDataError extends LayerdiffError {
  /** The entry's path. */
  readonly path: string;
  constructor(path: string, message: string) {
    super('ERR_ENTRY_DATA', `${message} in entry ${JSON.stringify(path)}`);
    this.path = path;
  }
}

/** Chunker parameters are out of range or inconsistent. */
export class ChunkerParamsError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_CHUNKER_PARAMS', message);
  }
}

/**
 * A WebAssembly module of this library (the CDC kernel, the LZ4 module) could not be
 * loaded, and a fallback was not allowed.
 */
export class WasmUnavailableError extends LayerdiffError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_WASM_UNAVAILABLE', message, options);
  }
}

/** A chunk store failed to read or write (an I/O error, not a missing or corrupt chunk). */
export class StoreError extends LayerdiffError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE', message, options);
  }
}

/**
 * A check of a store (`verifyStore`, `layerdiff verify`) found chunks that do not read back,
 * or indexes the store cannot rebuild; the report says which.
 */
export class StoreDamagedError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_STORE_DAMAGED', message);
  }
}

/**
 * A pack store's file (a pack or its index) is malformed: names the file and the byte offset.
 * Chunk bytes that fail their digest raise {@link ChunkDigestError} instead.
 */
export class PackFormatError extends LayerdiffError {
  constructor(
    readonly file: string,
    readonly offset: number,
    message: string,
  ) {
    super('ERR_PACK_FORMAT', `${file}: ${message} (at byte ${offset})`);
  }
}

/**
 * A store is in use in a way that excludes what was asked: a garbage collection runs while a
 * store is opened, or stores are open while a collection is asked for. Names the lock files
 * in the way (`locks`) and what they say of their holders.
 */
export class StoreLockedError extends LayerdiffError {
  constructor(
    message: string,
    readonly locks: readonly string[],
  ) {
    super('ERR_STORE_LOCKED', message);
  }
}

/** A command-line or API call was made with invalid arguments. */
export class UsageError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_USAGE', message);
  }
}

/**
 * A tar entry would write outside the extraction directory, or through a symbolic link: an
 * absolute path or one with a `..` component, a parent component that is a symbolic link, or a
 * hard link whose target is not a regular file extracted earlier from the same tar.
 */
export class UnsafePathError extends LayerdiffError {
  /** The offending entry: its path as written in the tar and the offset of its first header byte. */
  readonly location: Required<TarLocation>;
  constructor(message: string, location: Required<TarLocation>) {
    super('ERR_UNSAFE_PATH', `${message} ${where(location)}`);
    this.location = location;
  }
}

/** Writing an entry to the filesystem failed (an I/O or permission error, a type conflict). */
export class ExtractError extends LayerdiffError {
  /** The entry being written. */
  readonly location: TarLocation;
  constructor(message: string, location: TarLocation, options?: { cause?: unknown }) {
    super('ERR_EXTRACT', `${message} ${where(location)}`, options);
    this.location = location;
  }
}

/** A diff stream is malformed or truncated. */
export class DiffFormatError extends LayerdiffError {
  /** Byte offset in the diff stream of the frame being read. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('ERR_DIFF_FORMAT', `${message} (at diff offset ${offset})`);
    this.offset = offset;
  }
}

/** A diff stream ended well-formed, but the receiving store still lacks chunks its index needs. */
export class DiffIncompleteError extends LayerdiffError {
  /** How many referenced chunks are missing. */
  readonly missing: number;
  constructor(missing: number, first: string) {
    super(
      'ERR_DIFF_INCOMPLETE',
      `the diff's index refers to ${missing} chunk(s) neither in the diff nor in the store, first ${first}`,
    );
    this.missing = missing;
  }
}

/**
 * A bundle (a zip of an index and its chunks) is malformed or does not follow the bundle
 * layout: an unreadable or truncated zip, an entry name outside the layout, a duplicate or
 * oversized entry, a missing index, or a chunk the index needs that the bundle lacks.
 * (A chunk entry whose bytes do not match its name is a {@link ChunkDigestError}.)
 */
export class BundleError extends LayerdiffError {
  /** The zip entry the problem is in, when there is one. */
  readonly entry: string | undefined;
  constructor(message: string, entry?: string, options?: { cause?: unknown }) {
    super(
      'ERR_BUNDLE',
      entry === undefined ? message : `${message} (entry ${JSON.stringify(entry)})`,
      options,
    );
    this.entry = entry;
  }
}

/** An OCI image layout file or blob (index, manifest, config, descriptor) is malformed. */
export class OciFormatError extends LayerdiffError {
  /** Which file or blob: a path in the layout or a digest. */
  readonly where: string;
  constructor(where: string, message: string) {
    super('ERR_OCI_FORMAT', `${where}: ${message}`);
    this.where = where;
  }
}

/** A descriptor names a media type that is not supported where it appears. */
export class OciMediaTypeError extends LayerdiffError {
  /** The media type. */
  readonly mediaType: string;
  constructor(mediaType: string, message: string) {
    super('ERR_OCI_MEDIA_TYPE', `${message}: ${JSON.stringify(mediaType)}`);
    this.mediaType = mediaType;
  }
}

/** A blob a descriptor names is not in the layout. */
export class OciBlobNotFoundError extends LayerdiffError {
  /** The missing blob's digest. */
  readonly digest: string;
  constructor(digest: string) {
    super('ERR_OCI_BLOB_NOT_FOUND', `blob ${digest} is not in the layout`);
    this.digest = digest;
  }
}

/** A blob's bytes do not match the digest or size its descriptor gives. */
export class OciDigestError extends LayerdiffError {
  /** The digest the blob was named by. */
  readonly digest: string;
  constructor(digest: string, detail: string) {
    super('ERR_OCI_DIGEST', `blob ${digest} failed verification: ${detail}`);
    this.digest = digest;
  }
}

/** A registry answered with an error, or could not be reached. */
export class RegistryError extends LayerdiffError {
  /** The URL asked. */
  readonly url: string;
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** What went wrong, without the URL. */
  readonly detail: string;
  /** How long the registry asked to be left alone (`Retry-After`), when it said. */
  retryAfterMs?: number;
  constructor(
    url: string,
    status: number | undefined,
    detail: string,
    options?: ErrorOptions,
    code: 'ERR_REGISTRY' | 'ERR_REGISTRY_AUTH' = 'ERR_REGISTRY',
  ) {
    super(code, `${url}: ${detail}`, options);
    this.url = url;
    this.status = status;
    this.detail = detail;
  }
}

/**
 * A registry (or its token service) asks for credentials that were not given, refuses those
 * given, or the credentials could not be had (a credential helper failed, an auth file is
 * malformed). `url` names what was asked: the registry's or the token service's URL, or the
 * auth file or helper.
 */
export class RegistryAuthError extends RegistryError {
  constructor(url: string, status: number | undefined, detail: string, options?: ErrorOptions) {
    super(url, status, detail, options, 'ERR_REGISTRY_AUTH');
  }
}

/** An OCI file or blob exceeds a size or nesting limit. */
export class OciLimitError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_OCI_LIMIT', message);
  }
}

/** No manifest in the layout carries the requested reference name (tag). */
export class OciRefNotFoundError extends LayerdiffError {
  /** The reference asked for. */
  readonly ref: string;
  constructor(ref: string, known: string[]) {
    super(
      'ERR_OCI_REF_NOT_FOUND',
      `no manifest is tagged ${quoted(ref)} (tags: ${
        known
          .slice(0, 10)
          .map(quoted)
          .concat(known.length > 10 ? [`and ${known.length - 10} more`] : [])
          .join(', ') || 'none'
      })`,
    );
    this.ref = ref;
  }
}

/**
 * An image was asked for where the layout holds several (a multi-platform image) and none or
 * more than one is for the platform given.
 */
export class OciPlatformError extends LayerdiffError {
  /** The platform asked for (`os/arch[/variant]`), if any. */
  readonly platform: string | undefined;
  /** The platforms the layout offers there (`unknown` for a manifest that names none). */
  readonly platforms: string[];
  /**
   * @param platform - the platform asked for, if any.
   * @param platforms - the platforms offered there (or, for several matches, those).
   * @param matched - images found for `platform`: none, or more than one.
   * @param where - the index that offers them, when it is not the image asked for.
   */
  constructor(platform: string | undefined, platforms: string[], matched: number, where?: string) {
    const list = platforms.slice(0, 20).join(', ') || 'none';
    const at = where === undefined ? '' : `${where}: `;
    super(
      'ERR_OCI_PLATFORM',
      platform === undefined
        ? `${at}${platforms.length} images match (platforms: ${list}); name one with --platform`
        : `${at}${matched > 1 ? `${matched} images are` : 'no image is'} for platform ${quoted(platform)} (platforms: ${list})`,
    );
    this.platform = platform;
    this.platforms = platforms;
  }
}

/** An index holds more than a reader was allowed to keep in memory (entries, chunks). */
export class IndexLimitError extends LayerdiffError {
  constructor(message: string) {
    super('ERR_INDEX_LIMIT', message);
  }
}
