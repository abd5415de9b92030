/**
 * Helpers for the extract tests: building tars from headers, snapshotting a directory tree
 * (types, contents, modes, times, owners, link targets, hard link identity) for comparison.
 */
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { encodeHeader, paddingSize, type TarHeaderInput } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';

/** One entry of a tar to build: its header fields and body. */
export interface TarSpec extends TarHeaderInput {
  body?: Uint8Array | string;
}

/** A built tar and the offset of each entry's first header byte. */
export interface BuiltTar {
  bytes: Uint8Array;
  offsets: number[];
}

/** Builds a plain tar (with the two end blocks) from entry specs, with `encodeHeader`. */
export function buildTar(specs: TarSpec[]): BuiltTar {
  const parts: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const { body, ...header } of specs) {
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : (body ?? undefined);
    const h = encodeHeader({ ...header, size: bytes?.length ?? header.size ?? 0 });
    offsets.push(at);
    parts.push(h);
    at += h.length;
    if (bytes) {
      const pad = new Uint8Array(paddingSize(bytes.length));
      parts.push(bytes, pad);
      at += bytes.length + pad.length;
    }
  }
  parts.push(new Uint8Array(1024));
  return { bytes: concat(parts), offsets };
}

/** What a snapshot records of one path. */
export interface NodeInfo {
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block' | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in microseconds (Node sets times to the microsecond). */
  mtimeUs: bigint;
  size?: number;
  sha256?: string;
  target?: string;
  rdev?: number;
  /** For files with more than one link: the first path (in sorted order) of the same inode. */
  sameAs?: string;
}

/** Snapshots every path under `dir` (and `dir` itself as `.`). */
export function snapshot(
  dir: string,
  options: { owners?: boolean; root?: boolean } = {},
): Record<string, NodeInfo> {
  const out: Record<string, NodeInfo> = {};
  const inodes = new Map<bigint, string>();
  const paths = ['.', ...listAll(dir)];
  for (const rel of paths) {
    if (rel === '.' && options.root === false) continue;
    const full = rel === '.' ? dir : join(dir, rel);
    const st = lstatSync(full, { bigint: true });
    const info: NodeInfo = {
      type: st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isSymbolicLink()
            ? 'symlink'
            : st.isFIFO()
              ? 'fifo'
              : st.isCharacterDevice()
                ? 'char'
                : st.isBlockDevice()
                  ? 'block'
                  : 'other',
      mode: Number(st.mode & 0o7777n),
      uid: options.owners === false ? -1 : Number(st.uid),
      gid: options.owners === false ? -1 : Number(st.gid),
      mtimeUs: st.mtimeNs / 1000n,
    };
    if (info.type === 'file') {
      info.size = Number(st.size);
      info.sha256 = createHash('sha256').update(readFileSync(full)).digest('hex');
      if (st.nlink > 1n) {
        const first = inodes.get(st.ino);
        if (first === undefined) inodes.set(st.ino, rel);
        else info.sameAs = first;
      }
    }
    if (info.type === 'symlink') {
      info.target = readlinkSync(full);
      info.mode = 0; // not meaningful on Linux
    }
    if (info.type === 'char' || info.type === 'block') info.rdev = Number(st.rdev);
    out[rel] = info;
  }
  return out;
}

/** Every path under `dir`, relative, sorted; symbolic links are listed, never followed. */
export function listAll(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const d of readdirSync(rel === '' ? dir : join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? d.name : `${rel}/${d.name}`;
      out.push(p);
      if (d.isDirectory()) walk(p);
    }
  };
  walk('');
  return out.sort();
}

/** A fresh temporary directory. */
export function tempDir(tmp: string, prefix: string): string {
  return mkdtempSync(join(tmp, prefix));
}
