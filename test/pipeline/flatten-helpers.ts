/**
 * Helpers for the flatten tests: layer tars built from a list of entries, flatten run over
 * converted layers, and an independent reference that applies each layer tar to a real
 * directory as a runtime does (GNU tar unpacks each layer's contents), then a snapshot of a
 * directory tree to compare.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  type Stats,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, posix } from 'node:path';
import type { FlattenWarning } from '../../src/pipeline/flatten.js';
import { flatten } from '../../src/pipeline/flatten.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { BSDTAR, GNU_TAR } from '../tar/helpers.js';

/** One entry of a hand-built layer. Whiteouts name what they delete. */
export type Spec =
  | { type: 'file'; path: string; body?: string | Uint8Array; mode?: number; mtime?: number }
  | { type: 'dir'; path: string; mode?: number; mtime?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; target: string }
  | { type: 'whiteout'; path: string }
  | { type: 'opaque'; path: string };

const text = new TextEncoder();
const MTIME = 1_700_000_000;

/** A layer tar (GNU-style headers via encodeHeader, ustar/pax) holding `specs` in order. */
export function layerTar(specs: Spec[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of specs) {
    switch (s.type) {
      case 'file': {
        const body =
          typeof s.body === 'string' ? text.encode(s.body) : (s.body ?? new Uint8Array(0));
        parts.push(
          encodeHeader({
            path: s.path,
            mode: s.mode ?? 0o644,
            mtime: s.mtime ?? MTIME,
            size: body.length,
          }),
          body,
          new Uint8Array(paddingSize(body.length)),
        );
        break;
      }
      case 'dir':
        parts.push(
          encodeHeader({
            path: s.path.endsWith('/') ? s.path : `${s.path}/`,
            kind: 'directory',
            mode: s.mode ?? 0o755,
            mtime: s.mtime ?? MTIME,
          }),
        );
        break;
      case 'symlink':
      case 'hardlink':
        parts.push(
          encodeHeader({
            path: s.path,
            kind: s.type,
            linkname: s.target,
            mode: 0o777,
            mtime: MTIME,
          }),
        );
        break;
      case 'whiteout': {
        const cut = s.path.lastIndexOf('/');
        const wh = `${s.path.slice(0, cut + 1)}.wh.${s.path.slice(cut + 1)}`;
        parts.push(encodeHeader({ path: wh, mode: 0o600, mtime: MTIME }));
        break;
      }
      case 'opaque':
        parts.push(
          encodeHeader({
            path: s.path === '' ? '.wh..wh..opq' : `${s.path}/.wh..wh..opq`,
            mode: 0o600,
            mtime: MTIME,
          }),
        );
        break;
    }
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

/** Converts each layer tar into one store, then flattens them; returns the tar and the warnings. */
export async function flattenTars(
  tars: Uint8Array[],
  options: { readAhead?: number; maxEntries?: number } = {},
): Promise<{
  tar: Uint8Array;
  warnings: FlattenWarning[];
  store: MemoryStore;
  indexes: Uint8Array[];
}> {
  const store = new MemoryStore();
  const indexes: Uint8Array[] = [];
  for (const tar of tars) indexes.push((await convertBytes(tar, store)).index);
  const warnings: FlattenWarning[] = [];
  const tar = await collect(
    flatten(
      indexes.map((index) => () => streamOf(index, 777)),
      store,
      { hash, onWarning: (w) => warnings.push(w), ...options },
    ),
  );
  return { tar, warnings, store, indexes };
}

/** Cleans a path like `path.Clean("/" + p)` without the leading slash (the test's own version). */
export function refClean(p: string): string {
  return posix.normalize(`/${p}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/** A member as GNU tar lists it: name (no trailing `/`), type character of `tar -tv`, hardlink target. */
export interface Member {
  name: string;
  /** `d` directory, `-` file, `h` hardlink, `l` symlink, `c`/`b` devices, `p` FIFO. */
  type: string;
  linkname: string;
}

/**
 * Members of a tar as GNU tar lists them (`tar -tv`, literal quoting). For test archives
 * whose names have no spaces and no " -> " or " link to ".
 */
export function listMembers(file: string): Member[] {
  const out = execFileSync(GNU_TAR, ['--quoting-style=literal', '-tvf', file], {
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const fields = line.split(/ +/);
      let name = fields.slice(5).join(' ');
      let linkname = '';
      const type = line[0]!;
      const sep = type === 'h' ? ' link to ' : type === 'l' ? ' -> ' : undefined;
      if (sep !== undefined) [name, linkname] = name.split(sep) as [string, string];
      return { name: name.replace(/\/$/, ''), type, linkname };
    });
}

/**
 * The reference: applies layer tars to an empty directory `root`, one after the other, as a
 * container runtime does, on a real filesystem. Each layer is first unpacked by GNU tar into a
 * scratch directory of its own (for its contents, modes and times); then (1) its whiteouts
 * remove their targets (`.wh.X`) or empty their directory (`.wh..wh..opq`); (2) its other
 * members are applied in order: the parent path is resolved from `root`, following symbolic
 * links inside `root` (an absolute target starts at `root`, `..` stops there), a missing
 * parent is made (mode 0755) and a file in the way is replaced by one; then whatever is at the
 * path is replaced, unless both it and the new member are directories.
 */
export function referenceApply(files: string[], root: string): void {
  mkdirSync(root, { recursive: true });
  for (const [i, file] of files.entries()) {
    const scratch = `${root}.layer-${i}`;
    mkdirSync(scratch);
    // Hard links to lower layers' files fail here, and are made below; whatever else fails to
    // unpack is missing from the scratch directory, and copying it below throws.
    spawnSync(
      'sh',
      ['-c', 'umask 022 && exec "$0" -xf "$1" -C "$2" --exclude=.wh.*', GNU_TAR, file, scratch],
      { stdio: 'pipe' },
    );
    const list = listMembers(file);
    const isWhiteout = (name: string) => posix.basename(refClean(name)).startsWith('.wh.');
    for (const m of list) {
      if (!isWhiteout(m.name)) continue;
      const clean = refClean(m.name);
      const dir = posix.dirname(clean) === '.' ? '' : posix.dirname(clean);
      const base = posix.basename(clean);
      if (base === '.wh..wh..opq') {
        const at = resolveIn(root, dir === '' ? [] : dir.split('/'), false);
        if (at === undefined) continue;
        for (const child of readdirSync(join(root, at))) {
          rmSync(join(root, at, child), { recursive: true });
        }
      } else {
        const at = resolveIn(root, dir === '' ? [] : dir.split('/'), false);
        if (at !== undefined)
          rmSync(join(root, at, base.slice(4)), { recursive: true, force: true });
      }
    }
    for (const m of list) {
      if (isWhiteout(m.name)) continue;
      const clean = refClean(m.name);
      if (clean === '') continue;
      const segs = clean.split('/');
      const parent = resolveIn(root, segs.slice(0, -1), true);
      if (parent === undefined) continue;
      const dest = join(root, parent, segs.at(-1)!);
      const from = join(scratch, clean);
      const old = lstatOrUndefined(dest);
      if (m.type === 'd') {
        if (!old?.isDirectory()) {
          if (old) rmSync(dest, { recursive: true });
          mkdirSync(dest);
        }
        chmodSync(dest, lstatSync(from).mode & 0o7777);
        continue;
      }
      if (m.type === 'h') {
        const t = refClean(m.linkname).split('/');
        const tParent = resolveIn(root, t.slice(0, -1), false);
        const target = tParent === undefined ? undefined : join(root, tParent, t.at(-1)!);
        if (!target || !lstatOrUndefined(target)?.isFile()) continue;
        if (old) rmSync(dest, { recursive: true });
        linkSync(target, dest);
        continue;
      }
      // symlink(2) refuses an empty target: no runtime can unpack one.
      if (m.type === 'l' && m.linkname === '') continue;
      if (old) rmSync(dest, { recursive: true });
      if (m.type === 'l') {
        symlinkSync(m.linkname, dest);
      } else {
        const st = lstatSync(from);
        copyFileSync(from, dest);
        chmodSync(dest, st.mode & 0o7777);
        utimesSync(dest, st.atime, st.mtime);
      }
    }
    rmSync(scratch, { recursive: true });
  }
}

/**
 * Resolves directory segments below `root` as a runtime does (see {@link referenceApply}):
 * through symbolic links, and lexically past a segment that is missing or not a directory
 * (`missing/../t` is `t`); those segments are made at the end (a file in the way replaced)
 * when `create` is set.
 * @returns the resolved path below `root` (`''` for `root`), or `undefined` when a segment is
 *   missing or not a directory and `create` is false, or after more than 255 links.
 */
function resolveIn(root: string, segs: string[], create: boolean): string | undefined {
  const at: string[] = [];
  const pending: string[] = [];
  const todo = segs.slice().reverse();
  let links = 0;
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (pending.length > 0) pending.pop();
      else at.pop();
      continue;
    }
    if (pending.length > 0) {
      pending.push(name);
      continue;
    }
    const full = join(root, ...at, name);
    const st = lstatOrUndefined(full);
    if (st?.isSymbolicLink()) {
      if (++links > 255) return undefined;
      const target = readlinkSync(full);
      if (target.startsWith('/')) at.length = 0;
      const parts = target.split('/');
      for (let i = parts.length - 1; i >= 0; i--) todo.push(parts[i]!);
      continue;
    }
    if (st?.isDirectory()) at.push(name);
    else pending.push(name);
  }
  if (pending.length === 0) return at.join('/');
  if (!create) return undefined;
  const first = join(root, ...at, pending[0]!);
  if (lstatOrUndefined(first)) rmSync(first);
  for (const name of pending) {
    at.push(name);
    mkdirSync(join(root, ...at));
    chmodSync(join(root, ...at), 0o755);
  }
  return at.join('/');
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** Extracts a tar with GNU tar (or bsdtar) into a new directory; throws on any tar error. */
export function extract(
  tar: Uint8Array,
  file: string,
  root: string,
  tool: 'gnu' | 'bsd' = 'gnu',
): void {
  writeFileSync(file, tar);
  mkdirSync(root, { recursive: true });
  if (tool === 'gnu') execFileSync(GNU_TAR, ['-xf', file, '-C', root], { stdio: 'pipe' });
  else execFileSync(BSDTAR, ['-xpf', file, '-C', root], { stdio: 'pipe' });
}

/** What a snapshot records of one path. */
export interface Node {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** Files: size and sha256; symlinks: the target. */
  content?: string;
  /** Files: seconds of mtime. */
  mtime?: number;
  /** Hardlinked files: the first path of the group (all members, the first included). */
  group?: string;
}

/**
 * Every path under `root` (not the root itself) with its type, permission bits, owner, content
 * or link target, file mtime, and hardlink group (by inode number). Directory mtimes are left
 * out: the reference changes them when it deletes.
 */
export function snapshot(root: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const inodes = new Map<number, string[]>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(root, path);
      const st = lstatSync(full);
      const node: Node = {
        type: st.isFile()
          ? 'file'
          : st.isDirectory()
            ? 'dir'
            : st.isSymbolicLink()
              ? 'symlink'
              : st.isFIFO()
                ? 'fifo'
                : 'other',
        mode: st.mode & 0o7777,
        uid: st.uid,
        gid: st.gid,
      };
      if (node.type === 'file') {
        const bytes = new Uint8Array(readFileSync(full));
        node.content = `${bytes.length}:${sha256(bytes)}`;
        node.mtime = Math.floor(st.mtimeMs / 1000);
        inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), path]);
      }
      if (node.type === 'symlink') {
        node.content = readlinkSync(full);
        delete (node as { mode?: number }).mode; // symlink modes differ by platform
      }
      out[path] = node;
      if (node.type === 'dir') walk(path);
    }
  };
  walk('');
  for (const paths of inodes.values()) {
    if (paths.length < 2) continue;
    const first = [...paths].sort()[0]!;
    for (const p of paths) out[p]!.group = first;
  }
  return out;
}

/** Checks the structure of a flattened tar, as GNU tar lists it. */
export function checkStructure(file: string): string[] {
  const problems: string[] = [];
  const members = listMembers(file);
  const seen = new Set<string>();
  for (const m of members) {
    const name = m.name.replace(/\/$/, '');
    if (name.startsWith('/') || name.split('/').includes('..') || name.split('/').includes('.')) {
      problems.push(`unclean path ${m.name}`);
    }
    if (posix.basename(name).startsWith('.wh.')) problems.push(`whiteout ${m.name}`);
    if (seen.has(name)) problems.push(`duplicate ${m.name}`);
    const parent = posix.dirname(name);
    if (parent !== '.' && !seen.has(parent)) problems.push(`${m.name} before its parent`);
    if (m.type === 'h' && !seen.has(m.linkname))
      problems.push(`hardlink ${m.name} before ${m.linkname}`);
    seen.add(name);
  }
  return problems;
}
