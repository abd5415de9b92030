/**
 * Writing a plain tar into a directory, safely and without root: `extract()`.
 *
 * Safety rests on three rules. Entry paths are checked before anything is written (no
 * absolute paths, no `..`). Every parent component is `lstat`ed before it is used and must be a
 * real directory (a symbolic link there, even one this tar made, is an error). The final
 * component is never followed: an existing entry is removed first, files are created with
 * `O_CREAT | O_EXCL | O_NOFOLLOW`, and links and device nodes are created under a name known
 * to be free. A directory's owner, mode and times are applied at the end, on a descriptor of
 * the same directory (checked by device and inode): until then every directory the tar makes is
 * the extracting user's, mode 0700, so a user the tar names as a directory's owner cannot
 * change the tree under a running extraction. These rules guard against the tar itself; they do
 * not make extraction safe while another process changes the target directory at the same time.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import {
  chmod,
  type FileHandle,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  realpath,
  rm,
  symlink,
  unlink,
} from 'node:fs/promises';
import { join } from 'node:path';
import {
  ExtractError,
  LayerdiffError,
  type TarLocation,
  UnsafePathError,
  UsageError,
} from '../errors.js';
import { giveBack, isLent } from '../lend.js';
import { intOption } from '../options.js';
import { createTarTokenizer } from '../tar/tokenizer.js';
import type { TarEntry, TarTime } from '../tar/types.js';
import { checkEntryPath } from './entry-path.js';
import { PathTrie } from './path-trie.js';
import { SparseBody } from './sparse-body.js';
import { DEFAULT_XATTRS_EXCLUDE, type XattrFilter, xattrSelector } from './xattr-filter.js';

/** `(uid_t) -1`: the first id `lchown` cannot apply (it means "leave unchanged"). */
const MAX_ID = 0xffffffff;

/** What a warning is about. */
export type ExtractWarningCode =
  /** A character or block device was not created (not root, or `mknod` refused). */
  | 'device-skipped'
  /** A FIFO was not created (no `mkfifo` program). */
  | 'fifo-skipped'
  /** An extended attribute was not applied (not permitted, not supported, or no `setfattr`). */
  | 'xattr-not-applied'
  /**
   * An owner was not applied: a uid or gid of 2^32 - 1 or more, which Linux ids cannot hold
   * (2^32 - 1 itself means "leave unchanged" to `lchown`). The entry keeps the process's.
   */
  | 'owner-not-applied'
  /**
   * An entry that is not extracted: an unknown typeflag, a hard link to itself, a symbolic
   * link with an empty target, a name or link target that is not UTF-8 (it decodes with
   * U+FFFD, and would merge with a like name).
   */
  | 'entry-skipped';

/** Something that was not extracted as the tar describes it, without failing the extraction. */
export interface ExtractWarning {
  code: ExtractWarningCode;
  /** The entry's path as written in the tar. */
  path: string;
  /** Byte offset in the tar of the entry's first header byte. */
  offset: number;
  message: string;
}

/** Options for {@link extract}. */
export interface ExtractOptions {
  /**
   * Apply each entry's numeric uid/gid (`lchown`). When false, ownership is left to the
   * process and counted in {@link ExtractReport.ownershipNotApplied}. Forcing it on without
   * root fails with {@link ExtractError} on the first entry not owned by the process.
   *
   * @default true when running as root (`process.getuid() === 0`), else false
   */
  preserveOwnership?: boolean;
  /**
   * Which extended attributes (pax `SCHILY.xattr.*`, `LIBARCHIVE.xattr.*`) to apply, with the
   * `setfattr` program: `false` none; `true` every name but overlayfs's own
   * ({@link DEFAULT_XATTRS_EXCLUDE}); or the names an {@link XattrFilter} selects, by glob
   * patterns on the full name (`{ exclude: ['security.selinux', ...DEFAULT_XATTRS_EXCLUDE] }`,
   * `{ include: ['user.*', 'security.capability'] }`). Of the names selected, a process that is
   * not root applies only `user.*`. Best effort: every name not applied, whether left out by
   * this option, needing root or refused, is a `xattr-not-applied` warning.
   *
   * @default true
   */
  xattrs?: boolean | XattrFilter;
  /**
   * Cap on extension header bytes per entry (see `createTarTokenizer`), also the cap on a pax
   * 1.0 sparse map.
   *
   * @default 1048576 (1 MiB)
   */
  maxHeaderBytes?: number;
  /**
   * How many warnings {@link ExtractReport.warnings} keeps; later ones are only counted
   * (and still passed to `onWarning`).
   *
   * @default 100
   */
  maxWarnings?: number;
  /** Called with every warning as it happens. */
  onWarning?: (warning: ExtractWarning) => void;
  /** Stops the extraction between entries (and between body pieces); it rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@link extract} did. */
export interface ExtractReport {
  /** Entries read from the tar (every header, extracted or not). */
  entries: number;
  /** Regular files written (contiguous and sparse files included). */
  files: number;
  /** Directory entries (the target itself, for a `./` entry, included). */
  dirs: number;
  symlinks: number;
  hardlinks: number;
  fifos: number;
  /** Character and block devices created. */
  devices: number;
  /** Character and block devices not created (see {@link ExtractWarningCode}). */
  devicesSkipped: number;
  /** Other entries not extracted (unknown types, FIFOs without `mkfifo`). */
  skipped: number;
  /** Entries whose uid/gid differ from the process's and were not applied. */
  ownershipNotApplied: number;
  /** Extended attributes applied. */
  xattrs: number;
  /** The first `maxWarnings` warnings. */
  warnings: ExtractWarning[];
  /** How many warnings there were in all. */
  warningCount: number;
}

/** Default for {@link ExtractOptions.maxWarnings}. */
export const DEFAULT_MAX_WARNINGS = 100;

const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = constants;
const CREATE_FILE = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;
const OPEN_DIR = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;

/** Metadata of a directory entry, applied after every entry has been written. */
interface DirMeta {
  mode: number;
  atime: number | string;
  mtime: number | string;
  /** The owner to give it, when ownership is applied. */
  owner?: { uid: number; gid: number };
  /** The directory the entry made or kept: metadata goes to no other. */
  dev: number;
  ino: number;
  location: TarLocation;
}

/** The regular file being written. */
interface OpenFile {
  fh: FileHandle;
  entry: TarEntry;
  full: string;
  sparse: SparseBody | undefined;
  /** Where the next body byte goes (not for sparse entries, whose pieces say where). */
  pos: number;
}

/** Smallest all-zero body piece left as a hole rather than written. */
const HOLE_MIN = 4096;

/** Tells whether every byte of `bytes` is zero (checked a word at a time where aligned). */
function allZero(bytes: Uint8Array): boolean {
  const head = Math.min(bytes.length, (8 - (bytes.byteOffset % 8)) % 8);
  for (let i = 0; i < head; i++) if (bytes[i] !== 0) return false;
  const words = Math.floor((bytes.length - head) / 8);
  const wide = new Float64Array(bytes.buffer, bytes.byteOffset + head, words);
  // A word of zero bytes reads as +0; any other bit pattern as something else (or NaN).
  for (let i = 0; i < words; i++) if (!Object.is(wide[i], 0)) return false;
  for (let i = head + words * 8; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Writes a plain tar into a directory, streaming each file body to disk as it arrives (the
 * tar is read only as fast as the disk takes it). Meant for tars such as `flatten()` makes:
 * no whiteouts, parents before children, hard link targets before the links.
 *
 * - Regular, contiguous and sparse files (holes are recreated), directories, symbolic links,
 *   hard links and FIFOs are created; character and block devices only as root, by running
 *   `mknod` (Node has no `mknod`), and otherwise skipped with a warning.
 * - Modes (with setuid/setgid/sticky bits, exactly, whatever the umask) and access and
 *   modification times are applied; times of symbolic links too. A directory's mode and
 *   times are applied after all entries, deepest first, so read-only directories are filled.
 *   Without a pax `atime`, the access time is set to the modification time.
 * - Ownership: numeric uid/gid, applied as root only (see {@link ExtractOptions.preserveOwnership}).
 * - Extended attributes: best effort, every name but overlayfs's own unless
 *   {@link ExtractOptions.xattrs} says otherwise, only `user.*` without root.
 * - An entry replaces whatever is at its path (a non-directory over a directory removes that
 *   directory's whole tree), except that a directory over a directory keeps it.
 * - A `./` entry applies its metadata to `dir` itself; `dir` is created if missing.
 *
 * Nothing is ever written outside `dir`: an entry whose path is absolute or has a `..`
 * component, whose parent is a symbolic link or whose hard link target is not a regular file
 * extracted earlier from the same tar is rejected with {@link UnsafePathError}. On any error the
 * extraction stops and rejects with a `LayerdiffError` (tar errors as the tokenizer raises
 * them; filesystem failures as {@link ExtractError}); what was written so far stays, and the
 * deferred directory metadata is not applied.
 *
 * Buffers lent with the tar's pieces (see `lend`; `flatten` with `recycle` lends its file
 * bodies') are given back once every token of their piece is written: when a body token of
 * another lent buffer arrives, or at the end.
 *
 * @param tar - The uncompressed tar bytes.
 * @param dir - The target directory.
 * @param options - Ownership, xattrs, limits, warnings, abort signal.
 * @returns What was extracted.
 * @example
 * ```ts
 * import { extract, fileSource } from 'layerdiff/node';
 * const report = await extract(fileSource('rootfs.tar'), './rootfs');
 * console.log(report.files, report.ownershipNotApplied);
 * ```
 */
export async function extract(
  tar: ReadableStream<Uint8Array>,
  dir: string,
  options: ExtractOptions = {},
): Promise<ExtractReport> {
  const maxHeaderBytes = intOption(options.maxHeaderBytes, 'maxHeaderBytes', 1024 * 1024, 512);
  const maxWarnings = intOption(options.maxWarnings, 'maxWarnings', DEFAULT_MAX_WARNINGS, 0);
  const selectXattr = xattrsOption(options.xattrs);
  if (typeof dir !== 'string' || dir === '') throw new UsageError('extract: dir is required');
  let root: string;
  try {
    await mkdir(dir, { recursive: true });
    root = await realpath(dir);
    if (!(await lstat(root)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new ExtractError(`cannot use ${JSON.stringify(dir)} as the target: ${message(err)}`, {
      offset: 0,
    });
  }
  const extractor = new Extractor(root, options, selectXattr, maxHeaderBytes, maxWarnings);
  const reader = tar.pipeThrough(createTarTokenizer({ maxHeaderBytes })).getReader();
  const signal = options.signal;
  /** The lent buffer behind the last body token: all its tokens come before another's. */
  let lent: ArrayBufferLike | undefined;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { done, value } = await reader.read();
      if (done) break;
      switch (value.type) {
        case 'header':
          await extractor.header(value.entry, value.offset);
          break;
        case 'body': {
          const buffer = value.bytes.buffer;
          if (buffer !== lent && isLent(buffer)) {
            if (lent) giveBack(lent);
            lent = buffer;
          }
          await extractor.body(value.bytes);
          break;
        }
        case 'end':
          await extractor.end();
          break;
        case 'tail':
          break;
      }
    }
    if (lent) giveBack(lent);
    await extractor.finish();
    return extractor.report;
  } catch (err) {
    await extractor.abort();
    await reader.cancel(err).catch(() => {});
    throw extractor.wrap(err);
  }
}

/** The test {@link ExtractOptions.xattrs} describes: `undefined` when none are applied. */
function xattrsOption(xattrs: ExtractOptions['xattrs']): ((name: string) => boolean) | undefined {
  if (xattrs === false) return undefined;
  if (xattrs === undefined || xattrs === true) return xattrSelector({});
  if (typeof xattrs !== 'object' || xattrs === null || Array.isArray(xattrs)) {
    throw new UsageError('extract: xattrs must be a boolean or { include, exclude }');
  }
  return xattrSelector(xattrs, 'extract: xattrs');
}

function message(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = e?.message ?? String(err);
  return e?.code && !text.startsWith(`${e.code}:`) ? `${e.code}: ${text}` : text;
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/**
 * A tar time as `utimes` takes it. Node turns a negative number into "now", but takes a
 * numeric string as it is, so times before 1970 go as strings. Node (libuv) sets times to
 * the microsecond, cutting the rest off (toward zero) a double it has made of the seconds; a
 * double holds today's times only to about 0.24 µs, so the time given is the middle of its
 * microsecond, which then comes out exactly (as GNU tar sets it) instead of one off.
 */
function seconds(t: TarTime): number | string {
  const usec = Math.floor(t.nsec / 1000);
  const whole = t.sec + usec / 1e6;
  // libuv cuts toward zero: after 1970 toward the start of the microsecond, before toward its end.
  const s = whole >= 0 ? t.sec + (usec + 0.5) / 1e6 : t.sec + (usec - 0.5) / 1e6;
  return s < 0 ? String(s) : s;
}

/** Runs a program without a shell; rejects with its stderr, or with `ENOENT` when it is missing. */
function run(program: string, args: string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(program, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      if (errno(err) === 'ENOENT') return reject(err);
      reject(new Error(`${program}: ${String(stderr).trim() || err.message}`));
    });
    // A program that exits without reading its input must not fail the write.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}

/** Text as setfattr's `--restore` reads it: every byte but a few safe ones as `\ooo`. */
function dumpQuote(text: string): string {
  let out = '';
  for (const b of Buffer.from(text)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/+-]/.test(c) ? c : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** The state of one extraction: what has been verified or created so far. */
class Extractor {
  readonly report: ExtractReport = {
    entries: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    hardlinks: 0,
    fifos: 0,
    devices: 0,
    devicesSkipped: 0,
    skipped: 0,
    ownershipNotApplied: 0,
    xattrs: 0,
    warnings: [],
    warningCount: 0,
  };
  private readonly isRoot = process.getuid?.() === 0;
  private readonly uid = process.getuid?.() ?? -1;
  private readonly gid = process.getgid?.() ?? -1;
  private readonly chown: boolean;
  /**
   * Normalized paths known to be real directories (not symbolic links) under the root: true
   * for those this extraction made, false for those it found.
   */
  private readonly dirs = new PathTrie<boolean>();
  /** Whether the target tells names apart exactly (case, Unicode normalization); probed once. */
  private exactNames: Promise<boolean> | undefined;
  /** Normalized paths of regular files this tar created (hard link targets). */
  private readonly files = new PathTrie<true>();
  /** Directory metadata to apply at the end. */
  private readonly deferred = new PathTrie<DirMeta>();
  private file: OpenFile | undefined;
  /** The entry being extracted, for error messages. */
  private location: TarLocation = { offset: 0 };

  constructor(
    private readonly root: string,
    private readonly options: ExtractOptions,
    /** Whether an xattr name is to be applied (before the root check); none when undefined. */
    private readonly selectXattr: ((name: string) => boolean) | undefined,
    private readonly maxHeaderBytes: number,
    private readonly maxWarnings: number,
  ) {
    this.chown = options.preserveOwnership ?? this.isRoot;
    this.dirs.set('', false);
  }

  /** Turns a filesystem error into an {@link ExtractError} naming the entry. */
  wrap(err: unknown): unknown {
    if (err instanceof LayerdiffError) return err;
    if (this.options.signal?.aborted && err === this.options.signal.reason) return err;
    return new ExtractError(message(err), this.location, { cause: err });
  }

  async header(entry: TarEntry, offset: number): Promise<void> {
    this.report.entries++;
    const location = { path: entry.path, offset };
    this.location = location;
    const checked = checkEntryPath(entry.path);
    if (!checked.ok) throw new UnsafePathError(`refusing entry: ${checked.reason}`, location);
    const { path: rel, parts } = checked;
    // A GNU dumpdir (`D`, from incremental archives) is a directory whose body lists names.
    const kind = entry.typeflag === 'D' ? 'directory' : entry.kind;
    const link = kind === 'symlink' || kind === 'hardlink' ? entry.linkname : '';
    if (entry.nameNotUtf8) {
      // Bytes that are not UTF-8 decode to U+FFFD: `caf\xe9` and `caf\xe8` would be one file.
      this.report.skipped++;
      this.warn('entry-skipped', location, 'its name or link target is not UTF-8');
      return;
    }
    if (kind === 'symlink' && link === '') {
      // symlink(2) refuses an empty target; flatten leaves such an entry out too.
      this.report.skipped++;
      this.warn('entry-skipped', location, 'a symbolic link with an empty target');
      return;
    }
    if (rel === '' && kind !== 'directory') {
      const a = /^[aeiou]/.test(kind) ? 'an' : 'a';
      throw new UnsafePathError(`refusing ${a} ${kind} entry that names the target`, location);
    }
    await this.parents(parts, location);
    const full = rel === '' ? this.root : join(this.root, rel);
    switch (kind) {
      case 'directory':
        return this.directory(entry, rel, full, location);
      case 'file':
      case 'contiguous':
      case 'gnu-sparse':
        return this.regular(entry, rel, full, location);
      case 'symlink':
        return this.symlink(entry, rel, full);
      case 'hardlink':
        return this.hardlink(entry, rel, full, location);
      case 'fifo':
        return this.fifo(entry, rel, full, location);
      case 'char':
      case 'block':
        return this.device(entry, rel, full, location);
      default:
        this.report.skipped++;
        this.warn(
          'entry-skipped',
          location,
          `typeflag ${JSON.stringify(entry.typeflag)} is not extracted`,
        );
    }
  }

  async body(bytes: Uint8Array): Promise<void> {
    const file = this.file;
    if (!file) return; // the body of an entry that is not extracted
    if (!file.sparse) {
      // A run of zeros is left as a hole: a few kilobytes of layer can describe a sparse file
      // of a terabyte, which flatten writes out in full.
      if (bytes.length < HOLE_MIN || !allZero(bytes)) await writeAll(file.fh, bytes, file.pos);
      file.pos += bytes.length;
      return;
    }
    for (const piece of file.sparse.push(bytes)) {
      await writeAll(file.fh, piece.bytes, piece.position);
    }
  }

  async end(): Promise<void> {
    const file = this.file;
    if (!file) return;
    const { fh, entry, sparse } = file;
    if (sparse) {
      sparse.finish();
      await fh.truncate(sparse.realSize);
    } else {
      // The file ends at its size even when its last bytes were a hole.
      await fh.truncate(file.pos);
    }
    if (this.owner(entry)) await fh.chown(entry.uid, entry.gid);
    await this.setXattrs(entry, file.full);
    await fh.chmod(entry.mode & 0o7777);
    await fh.utimes(seconds(entry.atime ?? entry.mtime), seconds(entry.mtime));
    this.file = undefined;
    await fh.close();
  }

  /** Applies the deferred directory metadata, deepest directories first. */
  async finish(): Promise<void> {
    const depth = (p: string) => (p === '' ? 0 : p.split('/').length);
    const dirs = [...this.deferred.entries()]
      .map(([rel, meta]) => ({ rel, meta, depth: depth(rel) }))
      .sort((a, b) => b.depth - a.depth);
    this.deferred.deleteTree('');
    for (const { rel, meta } of dirs) {
      this.location = meta.location;
      const full = rel === '' ? this.root : join(this.root, rel);
      const same = (st: Stats) => st.isDirectory() && st.dev === meta.dev && st.ino === meta.ino;
      let fh: FileHandle | undefined;
      try {
        fh = await open(full, OPEN_DIR);
      } catch (err) {
        const code = errno(err);
        // No longer a directory there: a later entry replaced it under another spelling.
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') continue;
        if (code !== 'EACCES') throw err;
      }
      if (fh) {
        try {
          // O_NOFOLLOW covers the last component only: on a case-insensitive filesystem a
          // later entry may have put a symbolic link where a parent was, under another
          // spelling. Only the directory the entry made gets its metadata.
          if (!same(await fh.stat())) continue;
          if (meta.owner) await fh.chown(meta.owner.uid, meta.owner.gid);
          await fh.chmod(meta.mode);
          await fh.utimes(meta.atime, meta.mtime);
        } finally {
          await fh.close();
        }
        continue;
      }
      // A directory we may not read (one that was there before, say): by path, after
      // checking it is still the same directory.
      if (!same(await lstat(full))) continue;
      if (meta.owner) await lchown(full, meta.owner.uid, meta.owner.gid);
      await chmod(full, meta.mode);
      await lutimes(full, meta.atime, meta.mtime);
    }
  }

  /** Closes the file being written, after a failure. */
  async abort(): Promise<void> {
    await this.file?.fh.close().catch(() => {});
    this.file = undefined;
  }

  /**
   * Makes sure every parent of an entry is a real directory under the root, creating missing
   * ones (mode 0755 less the umask, as tar does for directories the archive does not list)
   * unless `create` is false.
   */
  private async parents(
    parts: string[],
    location: Required<TarLocation>,
    create = true,
  ): Promise<void> {
    // A directory is known only once its parents are: when the entry's parent is, so are all.
    if (parts.length < 2 || this.dirs.has(parts.slice(0, -1).join('/'))) return;
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel === '' ? parts[i]! : `${rel}/${parts[i]}`;
      if (this.dirs.has(rel)) continue;
      const full = join(this.root, rel);
      const st = await lstatOrUndefined(full);
      if (st === undefined) {
        if (!create) throw new ExtractError(`parent ${JSON.stringify(rel)} is missing`, location);
        await mkdir(full, { mode: 0o755 });
        this.dirs.set(rel, true);
        continue;
      } else if (st.isSymbolicLink()) {
        throw new UnsafePathError(`parent ${JSON.stringify(rel)} is a symbolic link`, location);
      } else if (!st.isDirectory()) {
        throw new ExtractError(`parent ${JSON.stringify(rel)} is not a directory`, location);
      }
      this.dirs.set(rel, false);
    }
  }

  /**
   * Clears the way for an entry: removes what is at its path (a directory with its whole
   * tree, never following a symbolic link), unless `keepDir` and it is a directory.
   * @returns whether a directory was kept.
   */
  private async replace(rel: string, full: string, keepDir: boolean): Promise<boolean> {
    const st = await lstatOrUndefined(full);
    if (st === undefined) return false;
    if (st.isDirectory()) {
      if (keepDir) return true;
      await rm(full, { recursive: true, force: true });
      await this.forget(rel, true);
      return false;
    }
    await unlink(full);
    await this.forget(rel, false);
    return false;
  }

  /** Drops what is known about a removed path (and, for a directory, everything below it). */
  private async forget(rel: string, tree: boolean): Promise<void> {
    if (tree) {
      // On a case-insensitive or normalizing filesystem (macOS, ext4 casefold) the removed
      // directory may be known under other spellings too, where a symbolic link may come next:
      // there, no directory is taken on trust after a directory's removal. Where names are
      // exact (a target that tells them apart, and every directory above the removed one made
      // here, so like it), only what was below it goes: forgetting everything would make each
      // later entry walk its parents again, which a tar of deep paths turns into minutes.
      // (A file's removal changes nothing known: every spelling of its path named that file.)
      const slash = rel.lastIndexOf('/');
      const parent = slash < 0 ? '' : rel.slice(0, slash);
      if (this.dirs.everyAlong(parent, (made) => made) && (await this.namesAreExact())) {
        this.dirs.deleteTree(rel);
      } else {
        this.dirs.deleteTree('');
        this.dirs.set('', false);
      }
      this.files.deleteTree(rel);
      this.deferred.deleteTree(rel);
    } else {
      this.files.delete(rel);
      this.deferred.delete(rel);
    }
  }

  private async directory(
    entry: TarEntry,
    rel: string,
    full: string,
    location: TarLocation,
  ): Promise<void> {
    // Ours and owner-writable until the end, whatever the entry's mode and owner, so that its
    // children fit in and nobody else can change it while they are written.
    const kept = await this.replace(rel, full, true);
    if (!kept) await mkdir(full, { mode: 0o700 });
    const st = await lstat(full);
    if (!st.isDirectory()) throw new ExtractError('created directory changed type', location);
    if (!this.dirs.has(rel)) this.dirs.set(rel, !kept);
    this.report.dirs++;
    await this.setXattrs(entry, full);
    // A later entry for the same directory wins.
    this.deferred.set(rel, {
      mode: entry.mode & 0o7777,
      atime: seconds(entry.atime ?? entry.mtime),
      mtime: seconds(entry.mtime),
      ...(this.owner(entry) ? { owner: { uid: entry.uid, gid: entry.gid } } : {}),
      dev: st.dev,
      ino: st.ino,
      location,
    });
  }

  private async regular(
    entry: TarEntry,
    rel: string,
    full: string,
    location: TarLocation,
  ): Promise<void> {
    // Validate a sparse map before touching the filesystem.
    const sparse = entry.sparse
      ? new SparseBody(entry.sparse, entry.bodySize, location, this.maxHeaderBytes)
      : undefined;
    await this.replace(rel, full, false);
    const fh = await open(full, CREATE_FILE, 0o600);
    this.file = { fh, entry, full, sparse, pos: 0 };
    this.files.set(rel, true);
    this.report.files++;
  }

  private async symlink(entry: TarEntry, rel: string, full: string): Promise<void> {
    await this.replace(rel, full, false);
    // The target is stored as it is and never followed by this extraction.
    await symlink(entry.linkname, full);
    this.report.symlinks++;
    if (this.owner(entry)) await lchown(full, entry.uid, entry.gid);
    await this.setXattrs(entry, full);
    await lutimes(full, seconds(entry.atime ?? entry.mtime), seconds(entry.mtime));
  }

  private async hardlink(
    entry: TarEntry,
    rel: string,
    full: string,
    location: Required<TarLocation>,
  ): Promise<void> {
    const target = checkEntryPath(entry.linkname);
    const what = `hard link target ${JSON.stringify(entry.linkname)}`;
    if (!target.ok) throw new UnsafePathError(`refusing ${what}: ${target.reason}`, location);
    const notExtracted = () =>
      new UnsafePathError(
        `refusing ${what}: not a regular file extracted earlier from this tar`,
        location,
      );
    if (!this.files.has(target.path)) throw notExtracted();
    if (target.path === rel) {
      this.report.skipped++;
      this.warn('entry-skipped', location, 'hard link to itself');
      return;
    }
    const targetFull = join(this.root, target.path);
    await this.replace(rel, full, false);
    // Replacing may have removed the target (when it was below this entry's path).
    if (!this.files.has(target.path)) throw notExtracted();
    // lstat and link follow symbolic links in the parents: they must be real directories.
    await this.parents(target.parts, location, false);
    const st = await lstatOrUndefined(targetFull);
    if (!st?.isFile()) throw notExtracted();
    await link(targetFull, full); // link(2) does not follow a symbolic link at the target
    this.files.set(rel, true);
    this.report.hardlinks++;
  }

  private async fifo(
    entry: TarEntry,
    rel: string,
    full: string,
    location: TarLocation,
  ): Promise<void> {
    await this.replace(rel, full, false);
    try {
      await run('mkfifo', ['--', full]);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      this.report.skipped++;
      this.warn('fifo-skipped', location, 'no mkfifo program to create a FIFO');
      return;
    }
    this.report.fifos++;
    await this.nodeMetadata(entry, full, (st) => st.isFIFO());
  }

  private async device(
    entry: TarEntry,
    rel: string,
    full: string,
    location: TarLocation,
  ): Promise<void> {
    const kind = entry.kind === 'char' ? 'c' : 'b';
    const what = `${entry.kind} device ${entry.devmajor},${entry.devminor}`;
    // The path is cleared either way: what the tar puts there is a device, not older content.
    await this.replace(rel, full, false);
    if (!this.isRoot) {
      this.report.devicesSkipped++;
      this.warn('device-skipped', location, `${what} not created: not running as root`);
      return;
    }
    try {
      await run('mknod', ['--', full, kind, String(entry.devmajor), String(entry.devminor)]);
    } catch (err) {
      // Root without CAP_MKNOD (a user namespace, a container) is refused: skip, as rootless tools do.
      this.report.devicesSkipped++;
      this.warn('device-skipped', location, `${what} not created: ${message(err)}`);
      return;
    }
    this.report.devices++;
    await this.nodeMetadata(entry, full, (st) =>
      kind === 'c' ? st.isCharacterDevice() : st.isBlockDevice(),
    );
  }

  /** Ownership, xattrs, mode and times of a FIFO or device node just created at `full`. */
  private async nodeMetadata(
    entry: TarEntry,
    full: string,
    isExpected: (st: Stats) => boolean,
  ): Promise<void> {
    // Opening a FIFO or a device has side effects, so this goes by path: check first that the
    // path still holds the node (chmod follows symbolic links).
    const st = await lstat(full);
    if (!isExpected(st)) throw new ExtractError('created node changed type', this.location);
    if (this.owner(entry)) await lchown(full, entry.uid, entry.gid);
    await this.setXattrs(entry, full);
    await chmod(full, entry.mode & 0o7777);
    await lutimes(full, seconds(entry.atime ?? entry.mtime), seconds(entry.mtime));
  }

  /**
   * Whether the target tells apart names that differ only in case or in Unicode normalization,
   * asked once: a probe file is made in it, looked up under such other spellings, and removed.
   * False when the probe cannot be made.
   */
  private namesAreExact(): Promise<boolean> {
    this.exactNames ??= (async () => {
      const name = `.layerdiff-probe-${randomBytes(6).toString('hex')}-\u00e9`;
      const full = join(this.root, name);
      try {
        await (await open(full, CREATE_FILE, 0o600)).close();
      } catch {
        return false;
      }
      try {
        for (const other of [name.toUpperCase(), name.normalize('NFD')]) {
          if ((await lstatOrUndefined(join(this.root, other))) !== undefined) return false;
        }
        return true;
      } finally {
        await unlink(full);
      }
    })();
    return this.exactNames;
  }

  /** Whether to apply the entry's ownership; counts it when not. */
  private owner(entry: TarEntry): boolean {
    const fits = entry.uid < MAX_ID && entry.gid < MAX_ID;
    if (this.chown && fits) return true;
    if (entry.uid !== this.uid || entry.gid !== this.gid) this.report.ownershipNotApplied++;
    if (this.chown) {
      this.warn(
        'owner-not-applied',
        this.location,
        `uid ${entry.uid} / gid ${entry.gid}: Linux ids stop below ${MAX_ID}`,
      );
    }
    return false;
  }

  /**
   * Applies the xattrs of an entry that {@link ExtractOptions.xattrs} selects with
   * `setfattr -h` (never following a symbolic link).
   */
  private async setXattrs(entry: TarEntry, full: string): Promise<void> {
    const names = Object.keys(entry.xattrs);
    if (names.length === 0) return;
    const select = this.selectXattr;
    if (!select) {
      this.warn('xattr-not-applied', this.location, `${names.length} xattrs not applied (off)`);
      return;
    }
    const apply: string[] = [];
    const excluded: string[] = [];
    const needRoot: string[] = [];
    const unusable: string[] = [];
    for (const name of names) {
      // setfattr cuts a name at a NUL byte (escaped or not), so the name checked would not
      // be the one set (`security.selinux\0x` would pass an exclude of `security.selinux`):
      // no file system holds such a name, nor an empty one.
      if (name === '' || name.includes('\0')) unusable.push(name);
      else if (!select(name)) excluded.push(name);
      else if (this.isRoot || name.startsWith('user.')) apply.push(name);
      else needRoot.push(name);
    }
    // One warning of each kind an entry, naming the xattr only when it is alone: a pax header
    // of 1 MiB may hold thousands, of any length.
    this.warnXattrs(
      unusable,
      (name) =>
        `xattr ${JSON.stringify(name.slice(0, SHOWN_NAME))} not applied: ${name ? 'a NUL byte in its name' : 'an empty name'}`,
      (n) => `${n} xattrs not applied: NUL bytes in their names, or empty names`,
    );
    this.warnXattrs(
      excluded,
      (name) => `xattr ${shownName(name)} not applied (excluded)`,
      (n) => `${n} xattrs not applied (excluded)`,
    );
    this.warnXattrs(
      needRoot,
      (name) => `xattr ${shownName(name)} needs root`,
      (n) => `${n} xattrs need root`,
    );
    if (apply.length === 0) return;
    // One setfattr for all of an entry's xattrs, not one each: a pax header of 1 MiB holds
    // some 40,000 of them.
    const lines = [`# file: ${dumpQuote(full)}`];
    for (const name of apply) {
      lines.push(`${dumpQuote(name)}=0x${Buffer.from(entry.xattrs[name]!).toString('hex')}`);
    }
    try {
      await run('setfattr', ['-h', '--restore=-'], `${lines.join('\n')}\n\n`);
      this.report.xattrs += apply.length;
    } catch (err) {
      this.warnXattrs(
        apply,
        (name) => `xattr ${shownName(name)}: ${message(err)}`,
        (n) => `${n} xattrs (some or all): ${message(err)}`,
      );
    }
  }

  /** One `xattr-not-applied` warning for `names`, if any: `one` names it, `many` counts them. */
  private warnXattrs(
    names: string[],
    one: (name: string) => string,
    many: (n: number) => string,
  ): void {
    if (names.length === 0) return;
    const text = names.length === 1 ? one(names[0]!) : many(names.length);
    this.warn('xattr-not-applied', this.location, text);
  }

  private warn(code: ExtractWarningCode, location: TarLocation, text: string): void {
    const warning: ExtractWarning = {
      code,
      path: location.path ?? '',
      offset: location.offset,
      message: text,
    };
    this.report.warningCount++;
    if (this.report.warnings.length < this.maxWarnings) this.report.warnings.push(warning);
    this.options.onWarning?.(warning);
  }
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes all of `bytes` (a write may be short), at `position` or at the file position. */
async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number | null): Promise<void> {
  for (let at = 0; at < bytes.length; ) {
    const pos = position === null ? null : position + at;
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at, pos);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    at += bytesWritten;
  }
}

/** Characters of an xattr name a warning shows, at most. */
const SHOWN_NAME = 256;

/** An xattr name as a warning shows it: cut after {@link SHOWN_NAME} characters, saying so. */
function shownName(name: string): string {
  return name.length <= SHOWN_NAME
    ? name
    : `${name.slice(0, SHOWN_NAME)}… (${name.length} characters)`;
}
