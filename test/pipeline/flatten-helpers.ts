/**
 * Helpers for the flatten tests: layer tars built from a list of entries, flatten run over
 * converted layers, and an independent reference that applies each layer tar to a directory
 * with GNU tar, one after the other, then a snapshot of a directory tree to compare.
 */
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
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
  options: { readAhead?: number } = {},
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

/** True when every segment of `rel` below `root` is a real directory (no symlinks, no files). */
function isRealDir(root: string, rel: string): boolean {
  let at = root;
  for (const seg of rel === '' ? [] : rel.split('/')) {
    at = join(at, seg);
    try {
      if (!lstatSync(at).isDirectory()) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
 * The reference: applies layer tars to an empty directory `root`, one after the other, the
 * obvious way. For each layer: (1) its whiteouts remove their targets (`.wh.X`) or empty their
 * directory (`.wh..wh..opq`), never through a symlink or a file; (2) every path it is about to
 * write is made way for: a non-directory in place of a parent is removed, and so is whatever
 * is at the path unless both it and the new entry are directories; (3) GNU tar extracts the
 * layer without its whiteouts.
 */
export function referenceApply(files: string[], root: string): void {
  mkdirSync(root, { recursive: true });
  for (const file of files) {
    const list = listMembers(file);
    const isWhiteout = (name: string) => posix.basename(refClean(name)).startsWith('.wh.');
    for (const m of list) {
      if (!isWhiteout(m.name)) continue;
      const clean = refClean(m.name);
      const dir = posix.dirname(clean) === '.' ? '' : posix.dirname(clean);
      const base = posix.basename(clean);
      if (base === '.wh..wh..opq') {
        if (!isRealDir(root, dir)) continue;
        for (const child of readdirSync(join(root, dir)))
          rmSync(join(root, dir, child), { recursive: true });
      } else {
        const target = refClean(`${dir}/${base.slice(4)}`);
        if (isRealDir(root, posix.dirname(target) === '.' ? '' : posix.dirname(target))) {
          rmSync(join(root, target), { recursive: true, force: true });
        }
      }
    }
    for (const m of list) {
      if (isWhiteout(m.name)) continue;
      const clean = refClean(m.name);
      if (clean === '') continue;
      const segs = clean.split('/');
      for (let k = 1; k < segs.length; k++) {
        const a = join(root, ...segs.slice(0, k));
        if (!isRealDir(root, segs.slice(0, k - 1).join('/'))) break;
        if (exists(a) && !lstatSync(a).isDirectory()) rmSync(a);
      }
      const at = join(root, clean);
      if (isRealDir(root, segs.slice(0, -1).join('/')) && exists(at)) {
        const isDir = m.type === 'd';
        if (!(isDir && lstatSync(at).isDirectory())) rmSync(at, { recursive: true });
      }
    }
    // A fixed umask, so that parents GNU tar has to create get mode 0755 like flatten's.
    execFileSync(
      'sh',
      ['-c', 'umask 022 && exec "$0" -xf "$1" -C "$2" --exclude=.wh.*', GNU_TAR, file, root],
      {
        stdio: 'pipe',
      },
    );
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
