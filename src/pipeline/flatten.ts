/**
 * `flatten`: a stack of layer indexes and a chunk store in, one plain tar of the merged
 * filesystem out, as a pull stream. The merge is done on metadata first (`src/flatten/`), then
 * the tar is written in path order, file bodies fetched chunk by chunk as the consumer pulls.
 *
 * @module
 */
import { IndexLimitError, LayerdiffError, UsageError } from '../errors.js';
import {
  type Attrs,
  entryAction,
  type Inode,
  implicitDirAttrs,
  SharedAttrs,
} from '../flatten/entry.js';
import { MergeTree } from '../flatten/merge-tree.js';
import { cleanPath } from '../flatten/path.js';
import type { RefList } from '../flatten/ref-list.js';
import { MAX_SPARSE_SEGMENTS, paxSparseMap, SparseMapCheck } from '../flatten/sparse.js';
import type { FlattenWarning, FlattenWarningCode } from '../flatten/warnings.js';
import type { IndexDecoderOptions } from '../format/decoder.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import type { ChunkReader } from '../store/types.js';
import { encodeHeader, paddingSize, type TarHeaderInput } from '../tar/header.js';
import { nameNotUtf8 } from '../tar/raw-names.js';
import { type ChunkFetcher, chunkFetcher } from './chunk-fetcher.js';
import { readIndexRecords } from './open-index.js';
import { isWhiteoutName } from './whiteout.js';

export type { FlattenWarning, FlattenWarningCode } from '../flatten/warnings.js';

/**
 * Opens the bytes of one layer's index: a root (as `convert` writes it, its index chunks in the
 * store) or a flat index. Flatten calls it once per layer; it may be called again, so it must
 * return a fresh stream each time.
 */
export type IndexSource = () => ReadableStream<Uint8Array>;

/** Options of {@link flatten}. */
export interface FlattenOptions {
  /** Hashing for chunk verification. @default webHashProvider() */
  hash?: HashProvider;
  /** Chunks fetched ahead of the consumer within a file, at most. @default 4 */
  readAhead?: number;
  /** Index decoding limits. */
  index?: IndexDecoderOptions;
  /** Most segments accepted in a sparse map stored in a body (pax 1.0). @default 1048576 */
  maxSparseSegments?: number;
  /**
   * Most paths the merged tree (and a layer's entries, gathered before they are applied) may
   * hold: flatten keeps about 1 KB of each in memory until it writes the first entry. More fail
   * with {@link IndexLimitError}. @default 2097152 (MAX_FLATTEN_ENTRIES)
   */
  maxEntries?: number;
  /** Receives what flatten corrected or left out (see {@link FlattenWarningCode}). */
  onWarning?: (warning: FlattenWarning) => void;
  /**
   * Read file bodies' chunks into pooled buffers lent to the consumer, one buffer per piece,
   * as `reassemble`'s option of the same name does.
   * @default false
   */
  recycle?: boolean;
}

/** Default of {@link FlattenOptions.maxEntries}. */
export const MAX_FLATTEN_ENTRIES = 1 << 21;

/** End-of-archive: two zero blocks. */
const END_BLOCKS = 1024;

/**
 * Merges a stack of layers into one plain tar of the resulting filesystem, with OCI layer
 * semantics (image-spec `layer.md`):
 *
 * - Layers apply bottom to top; a later entry at a path replaces the earlier one, except that
 *   a directory over a directory merges (the upper attributes win, the children stay). A file
 *   or symlink over a directory removes the directory's lower children.
 * - A layer's deletions (`.wh.NAME` removes `NAME` and everything below it; `.wh..wh..opq`
 *   empties its directory) apply before its entries, so they hide only lower layers.
 * - Symlinks in a parent path (of an entry, a whiteout or a hardlink target) are followed
 *   inside the merged tree, as runtimes follow them inside the root filesystem (see
 *   {@link MergeTree}); a path's last segment never is.
 * - An entry whose parent path is a file in the merged tree replaces that file with a
 *   directory (`WARN_PARENT_REPLACED`); missing parents are created.
 *   Either kind of made-up directory is written with mode 0755, owner 0:0 and the mtime of
 *   the entry that needed it.
 * - A hardlink joins the group of its target as the target is when the link's layer is
 *   applied (after that layer's deletions and its earlier entries). The group's content
 *   survives the target's later deletion or replacement: the first surviving member in output
 *   order is written with the content, the others as hardlinks to it; members of a group that
 *   is not a regular file (a symlink, FIFO or device) are each written as a copy. A hardlink
 *   whose target does not exist or is a directory is left out (`WARN_LINK_TARGET_MISSING`).
 * - Paths and hardlink targets are cleaned like containerd and umoci do: leading `./` and `/`
 *   go, `..` is resolved against `"/" + path` and clamped at the root
 *   (`WARN_PATH_CLAMPED`). No output path has `..` or a leading `/`. Symlink targets are
 *   kept verbatim. Entries for the root itself are not written.
 * - The output has no whiteouts; entries come in path order (parents first, siblings sorted by
 *   name), each header written anew by {@link encodeHeader} from the recorded metadata: path,
 *   permission bits, uid/gid, user and group names, mtime (sub-second via pax), xattrs, link
 *   targets and device numbers. Other pax records, atime and ctime are not carried over.
 *   Directories are written with a trailing `/`.
 * - Sparse files are written as pax 1.0 sparse entries, as `tar --sparse --format=posix`
 *   writes them (GNU tar, bsdtar and Python's tarfile recreate the holes): the body is the map
 *   and the stored data, so a hole costs nothing, however large the file says it is.
 * - Entries of unknown typeflags are left out (`WARN_UNSUPPORTED_TYPE`), as are entries whose
 *   metadata no tar header can hold (`WARN_UNENCODABLE`).
 *
 * Memory: on the first pull every index is read once, bottom to top, and the merged tree is
 * kept in memory: paths, attributes and the chunk references of surviving files (about 40
 * bytes a reference), one layer's pending records at a time. File contents are never held:
 * each chunk is fetched when the consumer pulls (with a read-ahead of `readAhead` chunks
 * within a file) and verified against its digest and length.
 *
 * The stream errors with {@link RecordFormatError} for a malformed index,
 * {@link ChunkNotFoundError} / {@link ChunkDigestError} for a missing or corrupt chunk, and
 * {@link EntryDataError} for a sparse map that does not fit its data. Unlike `reassemble`
 * there is no whole-output digest to check: each chunk is verified, but the indexes themselves
 * are trusted as given (compare their diff_ids with a trusted image config first).
 *
 * @param layers - the layers' index sources, bottom layer first.
 * @param store - where the chunks are.
 * @param options - hashing, read-ahead, limits and the warning callback.
 * @returns one plain tar (ending in two zero blocks), pull-driven.
 * @example
 * ```ts
 * const tar = flatten([() => baseIndex(), () => appIndex()], store, {
 *   onWarning: (w) => console.warn(w.code, w.path, w.message),
 * });
 * await tar.pipeTo(destination);
 * ```
 */
export function flatten(
  layers: readonly IndexSource[],
  store: ChunkReader,
  options: FlattenOptions = {},
): ReadableStream<Uint8Array> {
  const hash = options.hash ?? webHashProvider();
  const readAhead = intOption(options.readAhead, 'readAhead', 4);
  const fetchLent = chunkFetcher(store, hash, options.recycle === true);
  const maxSparseSegments = intOption(
    options.maxSparseSegments,
    'maxSparseSegments',
    MAX_SPARSE_SEGMENTS,
  );
  const maxEntries = intOption(options.maxEntries, 'maxEntries', MAX_FLATTEN_ENTRIES);
  const within = (count: number, what: string) => {
    if (count > maxEntries) {
      throw new IndexLimitError(
        `${what} exceed ${maxEntries}, the most flatten keeps in memory (maxEntries; --max-entries in the CLI)`,
      );
    }
  };
  const onWarning = options.onWarning;
  const warn = (code: FlattenWarningCode, path: string, message: string) =>
    onWarning?.({ code, path, message });
  let pieces: AsyncGenerator<Uint8Array, void> | undefined;

  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        pieces ??= generate();
        const { done, value } = await pieces.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      async cancel() {
        await pieces?.return();
      },
    },
    { highWaterMark: 0 },
  );

  async function* generate(): AsyncGenerator<Uint8Array, void> {
    const tree = new MergeTree<Attrs, Inode>(
      implicitDirAttrs({ sec: 0, nsec: 0 }),
      (w) => onWarning?.(w),
      (inode) => (inode.kind === 'symlink' ? inode.linkname : undefined),
    );
    for (const [i, layer] of layers.entries()) {
      try {
        await applyLayer(tree, layer);
      } catch (err) {
        // Which index of several was bad: its place in the stack, bottom first.
        if (err instanceof LayerdiffError && layers.length > 1) {
          err.message = `layer ${i + 1} of ${layers.length} (bottom first): ${err.message}`;
        }
        throw err;
      }
    }
    yield* writeTree(tree);
    yield new Uint8Array(END_BLOCKS);
  }

  /** Cleans a path, warning when a `..` was clamped. */
  function clean(raw: string): string {
    const { path, clamped } = cleanPath(raw);
    if (clamped) warn('WARN_PATH_CLAMPED', path, `path ${JSON.stringify(raw)} leaves the root`);
    return path;
  }

  /** Reads one layer's records, then applies its deletions and then its entries. */
  async function applyLayer(tree: MergeTree<Attrs, Inode>, layer: IndexSource): Promise<void> {
    const deletes: Array<{ path: string; opaque: boolean; notUtf8: boolean }> = [];
    const entries: Array<{
      path: string;
      action: ReturnType<typeof entryAction>;
      notUtf8: boolean;
    }> = [];
    const reader = readIndexRecords(layer(), store, { hash, index: options.index }).getReader();
    let body: RefList | undefined;
    const shared = new SharedAttrs();
    try {
      for (;;) {
        const { done, value: record } = await reader.read();
        if (done) break;
        switch (record.type) {
          case 'entry': {
            const action = entryAction(record.entry, shared);
            body = action.type === 'leaf' ? action.inode.refs : undefined;
            const { path, linkname } = record.entry;
            entries.push({ path, action, notUtf8: nameNotUtf8(record.raw, path, linkname) });
            within(entries.length + deletes.length, "a layer's entries");
            break;
          }
          case 'delete':
            body = undefined;
            deletes.push({
              path: record.path,
              opaque: record.opaque,
              notUtf8: nameNotUtf8(record.raw, record.entry.path, record.entry.linkname),
            });
            within(entries.length + deletes.length, "a layer's entries");
            break;
          case 'chunks':
            body?.push(record.refs);
            break;
          case 'tail':
            body = undefined;
            break;
        }
      }
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      throw err;
    }
    for (const d of deletes) {
      if (d.notUtf8) {
        warn('WARN_UNENCODABLE', d.path, 'a whiteout of a name that is not UTF-8 is left out');
        continue;
      }
      const path = clean(d.path);
      if (d.opaque) tree.makeOpaque(path);
      else tree.remove(path);
    }
    for (const { path: raw, action, notUtf8 } of entries) {
      // Checked before each entry (and once after the last) for what the one before added.
      within(tree.size, "the merged tree's paths");
      const link =
        action.type === 'hardlink'
          ? action.target
          : action.type === 'leaf'
            ? action.inode.linkname
            : '';
      if (notUtf8) {
        // Bytes that are not UTF-8 decode to U+FFFD: `caf\xe9` and `caf\xe8` would be one file.
        warn('WARN_UNENCODABLE', raw, 'a name or link target that is not UTF-8 is left out');
        continue;
      }
      if (raw.includes('\0') || link.includes('\0')) {
        // A pax path may hold a NUL; no file name can (Go refuses such a layer).
        warn('WARN_UNENCODABLE', raw, 'a name or link target with a NUL byte is left out');
        continue;
      }
      const path = clean(raw);
      if (isWhiteoutName(path.slice(path.lastIndexOf('/') + 1))) {
        // `.wh.`, `.wh..`, `.wh...`: reserved for whiteouts, and naming nothing to delete.
        warn('WARN_UNSUPPORTED_TYPE', path, 'a whiteout that names nothing to delete is left out');
        continue;
      }
      if (action.type === 'unsupported') {
        warn('WARN_UNSUPPORTED_TYPE', path, action.reason);
        continue;
      }
      if (action.type === 'leaf' && action.inode.kind === 'symlink' && link === '') {
        // symlink(2) refuses an empty target: nothing could unpack it.
        warn('WARN_UNSUPPORTED_TYPE', path, 'a symbolic link with an empty target is left out');
        continue;
      }
      if (action.type === 'directory') {
        tree.setDirectory(path, action.attrs, implicitDirAttrs(action.attrs.mtime));
        continue;
      }
      if (path === '') {
        warn('WARN_UNSUPPORTED_TYPE', path, 'a non-directory entry for the root is left out');
        continue;
      }
      if (action.type === 'hardlink') {
        const target = tree.get(clean(action.target));
        if (target?.type !== 'leaf') {
          warn(
            'WARN_LINK_TARGET_MISSING',
            path,
            `hardlink target ${JSON.stringify(action.target)} ${target ? 'is a directory' : 'does not exist'}`,
          );
          continue;
        }
        tree.setLeaf(path, target.inode, implicitDirAttrs(action.mtime));
        continue;
      }
      action.inode.refs?.trim();
      tree.setLeaf(path, action.inode, implicitDirAttrs(action.inode.attrs.mtime));
    }
    within(tree.size, "the merged tree's paths");
  }

  /** Encodes a header, or warns and returns undefined when the metadata cannot be written. */
  function header(input: TarHeaderInput): Uint8Array | undefined {
    try {
      return encodeHeader(input);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      warn('WARN_UNENCODABLE', input.path.replace(/\/$/, ''), err.message);
      return undefined;
    }
  }

  async function* writeTree(tree: MergeTree<Attrs, Inode>): AsyncGenerator<Uint8Array, void> {
    /** Where each hardlink group's content was written. */
    const written = new Map<Inode, string>();
    for (const [path, node] of tree.walk()) {
      if (node.type === 'dir') {
        const h = header({ ...attrFields(node.attrs), path: `${path}/`, typeflag: '5' });
        if (h) yield h;
        continue;
      }
      const inode = node.inode;
      // Only regular files are written as hard links: a group of symlinks, FIFOs or devices
      // (tar writes any inode with several names as a hard link) becomes copies, which every
      // extractor takes (ours refuses hard links to anything else; link(2) may follow a symlink).
      const first = inode.kind === 'file' ? written.get(inode) : undefined;
      if (first !== undefined) {
        const h = header({ ...attrFields(inode.attrs), path, typeflag: '1', linkname: first });
        if (h) yield h;
        continue;
      }
      const sparse = inode.kind === 'file' ? inode.sparse : undefined;
      if (sparse) {
        const entry = sparseEntry(inode, sparse, path);
        const h = header(entry.header);
        if (!h) continue;
        written.set(inode, path);
        yield h;
        yield* entry.body();
        continue;
      }
      const size = inode.kind === 'file' ? inode.storedSize : 0;
      const h = header({
        ...attrFields(inode.attrs),
        path,
        typeflag: TYPEFLAGS[inode.kind],
        size,
        linkname: inode.linkname,
        devmajor: inode.devmajor,
        devminor: inode.devminor,
      });
      if (!h) continue;
      written.set(inode, path);
      yield h;
      if (size === 0) continue;
      yield* chunks(inode.refs!, fetchLent);
      const pad = paddingSize(size);
      if (pad > 0) yield new Uint8Array(pad);
    }
  }

  /** A file's stored body, chunk by chunk, each verified, with bounded read-ahead. */
  async function* chunks(refs: RefList, fetch: ChunkFetcher): AsyncGenerator<Uint8Array, void> {
    const window: Array<Promise<Uint8Array>> = [];
    let next = 0;
    const fill = () => {
      while (window.length < readAhead && next < refs.count) {
        const bytes = fetch(refs.at(next++));
        bytes.catch(() => {});
        window.push(bytes);
      }
    };
    fill();
    while (window.length > 0) {
      const bytes = await window.shift()!;
      fill();
      yield bytes;
    }
  }

  /**
   * A sparse file as a pax 1.0 sparse entry, as GNU tar writes one: its header (the real path
   * in `GNU.sparse.name`, the header's own under `GNUSparseFile.0/`), then a body of the map
   * and the stored data, holes left out. A pax 1.0 body is passed on as stored, its map
   * checked as it goes by; any other map, from the metadata, is checked before the header.
   */
  function sparseEntry(
    inode: Inode,
    sparse: NonNullable<Inode['sparse']>,
    path: string,
  ): { header: TarHeaderInput; body(): AsyncGenerator<Uint8Array, void> } {
    const checker = new SparseMapCheck(sparse, inode.storedSize, path, maxSparseSegments);
    const map = sparse.format === 'pax-1.0' ? undefined : paxSparseMap(sparse.map ?? []);
    const size = (map?.size ?? 0) + inode.storedSize;
    const slash = path.lastIndexOf('/') + 1;
    return {
      header: {
        ...attrFields(inode.attrs),
        path: `${path.slice(0, slash)}GNUSparseFile.0/${path.slice(slash)}`,
        typeflag: '0',
        size,
        pax: {
          'GNU.sparse.major': '1',
          'GNU.sparse.minor': '0',
          'GNU.sparse.name': path,
          'GNU.sparse.realsize': String(sparse.realSize),
        },
      },
      async *body() {
        if (map) yield* map.pieces();
        if (inode.storedSize > 0) {
          for await (const bytes of chunks(inode.refs!, fetchLent)) {
            // Checked, not expanded: a hole costs nothing.
            checker.push(bytes);
            yield bytes;
          }
        }
        checker.finish();
        const pad = paddingSize(size);
        if (pad > 0) yield new Uint8Array(pad);
      },
    };
  }
}

const TYPEFLAGS: Record<Inode['kind'], string> = {
  file: '0',
  symlink: '2',
  char: '3',
  block: '4',
  fifo: '6',
};

function attrFields(a: Attrs) {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    uname: a.uname,
    gname: a.gname,
    mtime: a.mtime,
    xattrs: a.xattrs,
  };
}
