/**
 * What `changes` keeps of each path of one version of a layer: only the fields it compares,
 * packed. Numbers and the digest of each chunk list sit in typed columns, in pages of 4,096
 * rows; owner names once per distinct pair; link targets, xattrs and sparse maps, which most
 * entries lack, in side maps. About 110 bytes of columns and 80 of heap (the path's `Map`
 * entry and string) a path of 16 characters, where whole entry records took about 2 KB.
 *
 * @module
 */
import type { EntryMeta } from '../format/records.js';

/** What about a file changed. */
export type ChangeAspect =
  | 'type'
  | 'content'
  | 'size'
  | 'mode'
  | 'owner'
  | 'mtime'
  | 'link'
  | 'device'
  | 'xattrs';

// The fields of a row that may exceed 32 bits, in a float64 column...
const SIZE = 0;
const UID = 1;
const GID = 2;
const SEC = 3;
const NEW_BYTES = 4;
const MODE = 5;
const MAJOR = 6;
const MINOR = 7;
const WIDE = 8;
// ...and those that cannot, in a u32 one.
const TYPE = 0;
const OWNER = 1;
const NSEC = 2;
const NARROW = 3;
/** Bytes of a chunk list's digest. */
const CONTENT = 32;
/** Rows a page holds (a power of two). */
const PAGE_BITS = 12;
const PAGE = 1 << PAGE_BITS;

/** One page of rows' columns. */
interface Page {
  wide: Float64Array;
  narrow: Uint32Array;
  contents: Uint8Array;
}

/** The last entry of each path of one version, in the order paths first appear. */
export class EntryTable {
  private readonly rows = new Map<string, number>();
  private readonly pages: Page[] = [];
  /** Owner pairs (as JSON) by number, and their numbers. */
  private readonly ownerNames: string[] = [];
  private readonly owners = new Map<string, number>();
  /** The pair asked for last: entries in a row mostly share it. */
  private lastOwner: { uname: string; gname: string; id: number } | undefined;
  private readonly links = new Map<number, string>();
  private readonly xattrs = new Map<number, string>();
  private readonly layouts = new Map<number, string>();

  /** Paths held. */
  get size(): number {
    return this.rows.size;
  }

  /** Tells whether `path` is held. */
  has(path: string): boolean {
    return this.rows.has(path);
  }

  /** The row of `path`, or undefined. */
  row(path: string): number | undefined {
    return this.rows.get(path);
  }

  /** Paths and their rows, in the order the paths first appeared. */
  entries(): IterableIterator<[string, number]> {
    return this.rows.entries();
  }

  /**
   * Sets the entry of `path`, replacing an earlier one (which keeps its place in the order).
   * @param content - the digest of the entry's chunk list (32 bytes).
   * @param newBytes - bytes of its chunks another version lacks.
   */
  set(path: string, meta: EntryMeta, content: Uint8Array, newBytes: number): void {
    let r = this.rows.get(path);
    const replacing = r !== undefined;
    if (r === undefined) {
      r = this.rows.size;
      this.rows.set(path, r);
      if (r >>> PAGE_BITS === this.pages.length) {
        this.pages.push({
          wide: new Float64Array(PAGE * WIDE),
          narrow: new Uint32Array(PAGE * NARROW),
          contents: new Uint8Array(PAGE * CONTENT),
        });
      }
    }
    const { wide, narrow, contents } = this.page(r);
    const w = (r & (PAGE - 1)) * WIDE;
    wide[w + SIZE] = meta.sparse?.realSize ?? meta.size;
    wide[w + UID] = meta.uid;
    wide[w + GID] = meta.gid;
    wide[w + SEC] = meta.mtime.sec;
    wide[w + NEW_BYTES] = newBytes;
    wide[w + MODE] = meta.mode;
    wide[w + MAJOR] = meta.devmajor;
    wide[w + MINOR] = meta.devminor;
    const n = (r & (PAGE - 1)) * NARROW;
    narrow[n + TYPE] = meta.typeflag.charCodeAt(0) || 0;
    narrow[n + OWNER] = this.owner(meta.uname, meta.gname);
    narrow[n + NSEC] = meta.mtime.nsec;
    contents.set(content.subarray(0, CONTENT), (r & (PAGE - 1)) * CONTENT);
    if (replacing) {
      this.links.delete(r);
      this.xattrs.delete(r);
      this.layouts.delete(r);
    }
    if (meta.linkname !== '') this.links.set(r, meta.linkname);
    const xattrs = xattrText(meta.xattrs);
    if (xattrs !== '') this.xattrs.set(r, xattrs);
    // A sparse file's data chunks say nothing of where they sit: the map is part of its content.
    const s = meta.sparse;
    if (s) this.layouts.set(r, `${s.format} ${s.realSize} ${(s.map ?? []).join(' ')}`);
  }

  /** The typeflag of row `r`. */
  typeflag(r: number): string {
    return String.fromCharCode(this.narrow(r, TYPE));
  }

  /** The file size of row `r`: a sparse file's expanded size, else its body's. */
  fileSize(r: number): number {
    return this.wide(r, SIZE);
  }

  /** The bytes of row `r`'s chunks another version lacks. */
  newBytes(r: number): number {
    return this.wide(r, NEW_BYTES);
  }

  /** What differs between row `r` here and row `s` of `other`, in {@link ChangeAspect} order. */
  aspects(r: number, other: EntryTable, s: number): ChangeAspect[] {
    const wide = (f: number) => this.wide(r, f) === other.wide(s, f);
    const narrow = (f: number) => this.narrow(r, f) === other.narrow(s, f);
    const out: ChangeAspect[] = [];
    if (!narrow(TYPE)) out.push('type');
    const ca = this.content(r);
    const cb = other.content(s);
    if (ca.some((x, k) => x !== cb[k]) || this.layouts.get(r) !== other.layouts.get(s)) {
      out.push('content');
    }
    if (!wide(SIZE)) out.push('size');
    if (!wide(MODE)) out.push('mode');
    const owner =
      this.ownerNames[this.narrow(r, OWNER)] === other.ownerNames[other.narrow(s, OWNER)];
    if (!wide(UID) || !wide(GID) || !owner) out.push('owner');
    if (!wide(SEC) || !narrow(NSEC)) out.push('mtime');
    if (this.links.get(r) !== other.links.get(s)) out.push('link');
    if (!wide(MAJOR) || !wide(MINOR)) out.push('device');
    if (this.xattrs.get(r) !== other.xattrs.get(s)) out.push('xattrs');
    return out;
  }

  private page(r: number): Page {
    return this.pages[r >>> PAGE_BITS]!;
  }

  private wide(r: number, field: number): number {
    return this.page(r).wide[(r & (PAGE - 1)) * WIDE + field]!;
  }

  private narrow(r: number, field: number): number {
    return this.page(r).narrow[(r & (PAGE - 1)) * NARROW + field]!;
  }

  private content(r: number): Uint8Array {
    const at = (r & (PAGE - 1)) * CONTENT;
    return this.page(r).contents.subarray(at, at + CONTENT);
  }

  /** The number of an owner pair, given once per distinct pair. */
  private owner(uname: string, gname: string): number {
    const last = this.lastOwner;
    if (last && last.uname === uname && last.gname === gname) return last.id;
    // Quoted: names may hold any character, NUL included.
    const key = JSON.stringify([uname, gname]);
    let id = this.owners.get(key);
    if (id === undefined) {
      id = this.ownerNames.push(key) - 1;
      this.owners.set(key, id);
    }
    this.lastOwner = { uname, gname, id };
    return id;
  }
}

/** Extended attributes as comparable text (names sorted, values in hex); '' when none. */
function xattrText(xattrs: Record<string, Uint8Array>): string {
  const names = Object.keys(xattrs);
  if (names.length === 0) return '';
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return JSON.stringify(names.sort().map((k) => [k, hex(xattrs[k]!)]));
}
