/**
 * The records of a layerdiff index (format versions 1 and 2, which differ only in how entry
 * and delete records carry their header bytes). `docs/FORMAT.md` is the specification;
 * these types are its in-memory form.
 *
 * An index is: one {@link LayerRecord}; then, for each tar entry in order, an
 * {@link EntryRecord} or a {@link DeleteRecord} followed by the {@link ChunksRecord}s of its
 * body and, only when the padding after the body is not all zeros, a {@link PaddingRecord};
 * then, when the tar has bytes after its last entry, a {@link TailRecord} followed by the
 * {@link ChunksRecord}s of those bytes; and last one {@link EndRecord}.
 *
 * @module
 */

/** The index format version this library writes. It reads this one and every earlier one. */
export const FORMAT_VERSION = 2;

/**
 * Tells whether this library reads indexes (and roots) of format version `v`.
 * @param v - a format version.
 * @returns true for 1 and 2.
 */
export function isKnownVersion(v: number): boolean {
  return v >= 1 && v <= FORMAT_VERSION;
}

/**
 * The message for a version this library does not read.
 * @param what - what has the version ("index format", "root format").
 * @param v - the version.
 * @returns the message.
 */
export function unknownVersion(what: string, v: number): string {
  return `${what} version ${v} is not supported (this reader knows 1 to ${FORMAT_VERSION})`;
}

/** How the layer blob given to `convert` was compressed. */
export type Compression = 'none' | 'gzip' | 'zstd';

/** A reference to one chunk of content: its SHA-256 digest and its length in bytes. */
export interface ChunkRef {
  /** Raw SHA-256 of the chunk's bytes (32 bytes). */
  digest: Uint8Array;
  /** Length of the chunk in bytes. */
  length: number;
}

/** A timestamp with sub-second precision. */
export interface Timestamp {
  sec: number;
  nsec: number;
}

/** The decoded metadata of a tar entry, as recorded in an index. */
export interface EntryMeta {
  /** Effective path, with every extension applied. */
  path: string;
  /** Raw typeflag character of the tar header. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Timestamp;
  atime?: Timestamp;
  ctime?: Timestamp;
  /** Bytes of the body that follow the header in the tar (0 for header-only types). */
  size: number;
  /** Link target of hardlinks and symlinks; `''` otherwise. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /**
   * The entry's own pax attributes (UTF-8 text): those in effect for it that differ from the
   * global attributes in effect at that point; `''` marks a global keyword the entry removes.
   * Global attributes are not repeated per entry: see {@link EntryMeta.globalPax}.
   */
  pax: Record<string, string>;
  /**
   * Records of pax global headers that came just before this entry, in order (`''` removes a
   * keyword). A reader that wants each entry's effective attributes keeps the global set
   * running from entry to entry and overlays {@link EntryMeta.pax}.
   */
  globalPax?: Record<string, string>;
  /** Extended attributes (raw value bytes). */
  xattrs: Record<string, Uint8Array>;
  /** Sparse-file description, when the entry is sparse. */
  sparse?: {
    format: string;
    realSize: number;
    map?: Array<[number, number]>;
  };
}

/** First record: format version and the parameters every reference depends on. */
export interface LayerRecord {
  type: 'layer';
  version: number;
  /** The chunker and its size bounds; cut points depend on all four. */
  chunker: { algorithm: string; min: number; avg: number; max: number };
  /** Digest algorithm of every chunk reference and of the diff_id. */
  digest: 'sha256';
  /** Compression of the blob that was converted. */
  compression: Compression;
}

/** A tar entry other than a whiteout. */
export interface EntryRecord {
  type: 'entry';
  entry: EntryMeta;
  /** The exact header bytes that preceded the body in the tar (extension headers included). */
  raw: Uint8Array;
}

/**
 * A deletion, taken from an OCI whiteout entry (`.wh.NAME` deletes `NAME`; `.wh..wh..opq`
 * makes its directory opaque). It keeps the whiteout's own header so the tar rebuilds exactly.
 */
export interface DeleteRecord {
  type: 'delete';
  /** Path that is deleted (for `opaque`, the directory whose lower contents are hidden). */
  path: string;
  /** True for an opaque-directory whiteout. */
  opaque: boolean;
  /** Metadata of the whiteout entry itself. */
  entry: EntryMeta;
  /** The whiteout's exact header bytes. */
  raw: Uint8Array;
}

/** The next chunks of the current body (an entry's, a deletion's, or the tail's), in order. */
export interface ChunksRecord {
  type: 'chunks';
  refs: ChunkRef[];
}

/** Padding after a body, recorded only when it is not all zeros. */
export interface PaddingRecord {
  type: 'padding';
  bytes: Uint8Array;
}

/** Marks the start of the bytes after the last entry (end-of-archive blocks and anything after). */
export interface TailRecord {
  type: 'tail';
}

/** Digest and size of the compressed blob, when the converted layer was compressed. */
export interface BlobInfo {
  compression: Compression;
  digest: Uint8Array;
  size: number;
}

/** Last record: what the rebuilt tar must hash to, and totals. */
export interface EndRecord {
  type: 'end';
  /** SHA-256 of the uncompressed tar (the OCI diff_id). */
  diffId: Uint8Array;
  /** Size of the uncompressed tar in bytes. */
  size: number;
  /** Number of entry records. */
  entries: number;
  /** Number of delete records. */
  deletions: number;
  /** Number of chunk references (with repeats). */
  chunks: number;
  /** Bytes covered by chunk references (bodies and tail). */
  dataBytes: number;
  /** The compressed blob's digest and size, when the input was compressed. */
  blob?: BlobInfo;
}

/** Any record of an index. */
export type IndexRecord =
  | LayerRecord
  | EntryRecord
  | DeleteRecord
  | ChunksRecord
  | PaddingRecord
  | TailRecord
  | EndRecord;
