/**
 * What an index entry record means for the merged tree: a directory, a leaf (regular file,
 * symlink, device, FIFO) with its attributes, a hardlink, or something flatten does not write.
 * Pure.
 *
 * @module
 */
import type { EntryMeta, Timestamp } from '../format/records.js';
import { RefList } from './ref-list.js';

/** The attributes flatten writes for a node. */
export interface Attrs {
  /** Permission bits only (`mode & 0o7777`): the file type is the typeflag's. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: Timestamp;
  /** Extended attributes, copied out of the index record. */
  xattrs: Record<string, Uint8Array>;
}

/** Kinds of non-directory flatten writes. */
export type LeafKind = 'file' | 'symlink' | 'char' | 'block' | 'fifo';

/** A non-directory's content and attributes; shared by every member of a hardlink group. */
export interface Inode {
  kind: LeafKind;
  attrs: Attrs;
  /** Symlink target, verbatim (it is data, never cleaned). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Regular files: the chunk references of the body as stored in the tar. */
  refs?: RefList;
  /** Regular files stored sparse: how to expand the stored body. */
  sparse?: NonNullable<EntryMeta['sparse']>;
  /** Regular files: the body's size in the tar (`e.s`). */
  storedSize: number;
}

/** What one entry record asks of the merged tree. */
export type EntryAction =
  | { type: 'directory'; attrs: Attrs }
  | { type: 'leaf'; inode: Inode }
  | { type: 'hardlink'; target: string; mtime: Timestamp }
  | { type: 'unsupported'; reason: string };

/** Attributes of a directory flatten has to make up (a parent no entry described). */
export function implicitDirAttrs(mtime: Timestamp): Attrs {
  return { mode: 0o755, uid: 0, gid: 0, uname: '', gname: '', mtime, xattrs: NO_XATTRS };
}

/**
 * Classifies an entry record by its typeflag: `0`, `7`, GNU sparse `S` and old `\0` are
 * regular files (`\0` with a trailing `/` a directory, as Go and Python read it), `1` a
 * hardlink, `2` a symlink, `3`/`4` devices, `5` and GNU dump directories `D` directories,
 * `6` a FIFO. Anything else is unsupported. A regular file's `refs` start empty: the caller
 * appends the chunks records that follow the entry.
 *
 * @param meta - the entry's metadata from the index.
 * @param shared - attributes to hand out again when equal (see {@link SharedAttrs}).
 * @returns the action.
 */
export function entryAction(meta: EntryMeta, shared?: SharedAttrs): EntryAction {
  const made: Attrs = {
    mode: meta.mode & 0o7777,
    uid: meta.uid,
    gid: meta.gid,
    uname: meta.uname,
    gname: meta.gname,
    mtime: { sec: meta.mtime.sec, nsec: meta.mtime.nsec },
    xattrs: copyXattrs(meta.xattrs),
  };
  const attrs = shared ? shared.of(made) : made;
  const leaf = (kind: LeafKind): EntryAction => {
    const inode: Inode = {
      kind,
      attrs,
      linkname: kind === 'symlink' ? meta.linkname : '',
      devmajor: kind === 'char' || kind === 'block' ? meta.devmajor : 0,
      devminor: kind === 'char' || kind === 'block' ? meta.devminor : 0,
      storedSize: 0,
      // Set below or never: every inode has the same fields from the start, in the object.
      refs: undefined,
      sparse: undefined,
    };
    if (kind === 'file') {
      inode.refs = new RefList();
      inode.storedSize = meta.size;
      if (meta.sparse) inode.sparse = meta.sparse;
    }
    return { type: 'leaf', inode };
  };
  switch (meta.typeflag) {
    case '\0':
      return meta.path.endsWith('/') ? { type: 'directory', attrs } : leaf('file');
    case '0':
    case '7':
    case 'S':
      return leaf('file');
    case '1':
      return { type: 'hardlink', target: meta.linkname, mtime: attrs.mtime };
    case '2':
      return leaf('symlink');
    case '3':
      return leaf('char');
    case '4':
      return leaf('block');
    case '5':
    case 'D':
      return { type: 'directory', attrs };
    case '6':
      return leaf('fifo');
    default:
      return {
        type: 'unsupported',
        reason: `typeflag ${JSON.stringify(meta.typeflag)} is not a file type flatten writes`,
      };
  }
}

/**
 * Attributes handed out again: of the last few distinct attributes seen, the one equal to
 * those asked for, else those. Entries near each other mostly share theirs (one package's
 * files: a mode or two, one owner, one time), and a merged tree holds one object for all of
 * them instead of one (and a time and two names) per path. Attributes are never modified.
 */
export class SharedAttrs {
  private readonly recent: Attrs[] = [];

  /** `attrs`, or an equal object handed out before. */
  of(attrs: Attrs): Attrs {
    for (const r of this.recent) if (sameAttrs(r, attrs)) return r;
    this.recent.unshift(attrs);
    if (this.recent.length > 4) this.recent.pop();
    return attrs;
  }
}

/** Equal attributes; xattrs only when both have none. */
function sameAttrs(a: Attrs, b: Attrs): boolean {
  return (
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.uname === b.uname &&
    a.gname === b.gname &&
    a.mtime.sec === b.mtime.sec &&
    a.mtime.nsec === b.mtime.nsec &&
    a.xattrs === NO_XATTRS &&
    b.xattrs === NO_XATTRS
  );
}

/** The xattrs of every entry that has none (most): one object, never written to. */
const NO_XATTRS: Record<string, Uint8Array> = Object.freeze({});

function copyXattrs(xattrs: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const names = Object.keys(xattrs);
  if (names.length === 0) return NO_XATTRS;
  const out: Record<string, Uint8Array> = {};
  for (const [k, v] of Object.entries(xattrs)) {
    Object.defineProperty(out, k, {
      value: v.slice(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
