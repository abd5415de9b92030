/**
 * Types shared by the tar header codec and the tar tokenizer stream.
 *
 * @module
 */

/** What kind of file a tar entry describes, derived from its typeflag. */
export type TarEntryKind =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'contiguous'
  | 'gnu-sparse'
  | 'other';

/** Header format of an entry's main header block, from its magic and version fields. */
export type TarHeaderFormat = 'v7' | 'ustar' | 'gnu';

/** A timestamp with sub-second precision. `sec` may be negative. */
export interface TarTime {
  sec: number;
  nsec: number;
}

/** How a sparse file's holes are described, when the entry is sparse. */
export interface TarSparse {
  /** `gnu-old`: typeflag `S` map in the header; `pax-0.0`/`pax-0.1`: pax keys; `pax-1.0`: map at the start of the body. */
  format: 'gnu-old' | 'pax-0.0' | 'pax-0.1' | 'pax-1.0';
  /** Size of the file once the holes are expanded. */
  realSize: number;
  /** `[offset, length]` data segments, where known from the headers (absent for `pax-1.0`, whose map is in the body). */
  map?: Array<[number, number]>;
}

/** The decoded metadata of one tar entry, with every extension (pax, GNU long names) applied. */
export interface TarEntry {
  /** Effective path: pax `path`, else GNU long name, else ustar prefix + name. */
  path: string;
  /** The raw typeflag character of the main header (`'\0'` for old regular files). Unknown flags are kept as they are. */
  typeflag: string;
  /** The kind of file the typeflag denotes. */
  kind: TarEntryKind;
  /** Header format of the main header block. */
  format: TarHeaderFormat;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: TarTime;
  atime?: TarTime;
  ctime?: TarTime;
  /** Effective size after pax `size` (for sparse entries: the stored bytes, not the expanded size). */
  size: number;
  /** Number of body bytes that follow the header in the archive (0 for header-only types). */
  bodySize: number;
  /** Effective link target: pax `linkpath`, else GNU long link name, else the header field. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Every pax attribute in effect for this entry (global `g` records first, overridden by `x`), values as UTF-8 text. */
  pax: Record<string, string>;
  /**
   * Records of the pax global (`g`) headers that came just before this entry (and are in its
   * `raw`), in order, as UTF-8 text; an empty value removes the keyword. Absent when none did.
   */
  globalPax?: Record<string, string>;
  /** Extended attributes from `SCHILY.xattr.*` (and `LIBARCHIVE.xattr.*`) pax keys, values as raw bytes. */
  xattrs: Record<string, Uint8Array>;
  /** Sparse-file description, when the entry is sparse. */
  sparse?: TarSparse;
  /**
   * Set when the bytes of the path or the link target are not UTF-8: the text holds U+FFFD in
   * their place, so two such names (`caf\xe9`, `caf\xe8`) can decode alike. A U+FFFD that the
   * bytes themselves spell (EF BF BD) does not set it.
   */
  nameNotUtf8?: true;
}

/**
 * One token of a tokenized tar stream. For every entry the stream carries, in order:
 * one `header`, zero or more `body` pieces (summing to `entry.bodySize`), and one `end`.
 * After the last entry come zero or more `tail` pieces: every byte from the end-of-archive
 * marker (the first all-zero header block) to the end of the input, whatever it holds.
 * Concatenating `raw`, `body`, `padding` and `tail` bytes in order gives back the input exactly.
 *
 * The bytes are views, not buffers of their own: `body`, `tail` and most `padding` of the
 * input pieces, `raw` of a buffer shared with other headers' bytes. Copy (`slice()`) what is
 * kept past the next few tokens (a kept view keeps its whole buffer) or transferred.
 */
export type TarToken =
  | {
      type: 'header';
      entry: TarEntry;
      /** Every byte before the body: pax/GNU extension headers with their data and padding, then the main header and any GNU sparse extension blocks. */
      raw: Uint8Array;
      /** Byte offset in the tar of the first byte of `raw`. */
      offset: number;
    }
  | { type: 'body'; bytes: Uint8Array }
  | {
      type: 'end';
      /** The bytes between the end of the body and the next 512-byte boundary, as found (usually zeros). */
      padding: Uint8Array;
    }
  | { type: 'tail'; bytes: Uint8Array };
