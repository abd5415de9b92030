/**
 * Walking the files of a store directory without holding them: a pack index read in blocks of
 * entries, and the chunk files of a file-per-chunk store. Garbage collection and `verifyStore`
 * take a store's records this way.
 *
 * @module
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkCoding } from '../compress/chunk-codec.js';
import { PackFormatError, StoreError } from '../errors.js';
import { parseDigest } from '../hash/digest.js';
import {
  decodeIndexEntry,
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  PackIndexCheck,
} from '../store/pack-format.js';
import { CHUNK_FILE_RE, TEMPORARY_FILE_RE } from './fs-store.js';

/** Entries read from a pack index at a time. */
const READ_ENTRIES = 1260;

/** A pack index entry, as {@link indexBlocks} hands it out. */
export interface IndexedRecord {
  digest: Uint8Array;
  offset: number;
  stored: number;
  coding: ChunkCoding;
}

/**
 * Reads a pack index in blocks: checks all of it first, then hands out its entries a block at a
 * time (each entry's digest a copy), so that no index is held whole (the format allows 218 MB).
 * @throws {@link PackFormatError} for a damaged index.
 */
export function* indexBlocks(
  path: string,
): Generator<{ packSize: number; entries: IndexedRecord[] }> {
  const block = new Uint8Array(READ_ENTRIES * INDEX_ENTRY_BYTES);
  let fd: number;
  try {
    // Without blocking: a FIFO put in the index's place must not hang the open.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new StoreError(`reading pack index ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    if (!fstatSync(fd).isFile()) throw new PackFormatError(path, 0, 'not a regular file');
    const read = (n: number, at: number): Uint8Array => {
      let got = 0;
      while (got < n) {
        const r = readSync(fd, block, got, n - got, at + got);
        if (r === 0) break;
        got += r;
      }
      if (got < n) throw new PackFormatError(path, at + got, 'pack index cut short');
      return block.subarray(0, n);
    };
    const check = new PackIndexCheck(read(INDEX_HEADER_BYTES, 0), fstatSync(fd).size, path);
    for (let at = INDEX_HEADER_BYTES; at < check.body; at += block.length) {
      check.entries(read(Math.min(block.length, check.body - at), at));
    }
    check.finish(read(4, check.body));
    if (check.count === 0) yield { packSize: check.packSize, entries: [] };
    for (let at = INDEX_HEADER_BYTES; at < check.body; at += block.length) {
      const bytes = read(Math.min(block.length, check.body - at), at);
      const entries: IndexedRecord[] = [];
      for (let i = 0; i < bytes.length; i += INDEX_ENTRY_BYTES) {
        const e = decodeIndexEntry(
          bytes.subarray(i, i + INDEX_ENTRY_BYTES),
          check.packSize,
          path,
          at + i,
        );
        entries.push({
          digest: e.digest.slice(),
          offset: e.offset,
          stored: e.stored,
          coding: e.coding,
        });
      }
      yield { packSize: check.packSize, entries };
    }
  } finally {
    closeSync(fd);
  }
}

/** The number of chunk files a file-per-chunk store holds, from its directories' listings. */
export async function looseChunkCount(root: string): Promise<number> {
  let n = 0;
  for (const sub of await chunkDirs(root)) {
    for (const name of await readdir(sub)) if (CHUNK_FILE_RE.test(name)) n++;
  }
  return n;
}

/** The `sha256/<2 hex>` directories of a file-per-chunk store. */
async function chunkDirs(root: string): Promise<string[]> {
  const top = join(root, 'sha256');
  return (await readdir(top))
    .filter((sub) => /^[0-9a-f]{2}$/.test(sub))
    .sort()
    .map((sub) => join(top, sub));
}

/**
 * Visits the chunk files of a file-per-chunk store (`sha256/<2 hex>/<64 hex>[.d|.l]`), hands
 * the temporary files of its writers to `temporary`, and entries of a chunk file's name that
 * are not regular files (a directory, a FIFO) to `notFile`; other names are left alone.
 */
export async function looseChunks(
  root: string,
  visit: (path: string, digest: Uint8Array, size: number) => void | Promise<void>,
  temporary: (path: string) => void,
  notFile?: (path: string, digest: Uint8Array) => void,
): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const dir of await chunkDirs(root)) {
    const sub = dir.slice(-2);
    for (const name of (await readdir(dir)).sort()) {
      if (TEMPORARY_FILE_RE.test(name)) temporary(join(dir, name));
      const m = CHUNK_FILE_RE.exec(name);
      if (!m || !m[1]!.startsWith(sub)) continue;
      const path = join(dir, name);
      const st = await stat(path).catch(() => undefined);
      if (!st) continue;
      if (!st.isFile()) {
        notFile?.(path, parseDigest(`sha256:${m[1]}`)!);
        continue;
      }
      files++;
      bytes += st.size;
      await visit(path, parseDigest(`sha256:${m[1]}`)!, st.size);
    }
  }
  return { files, bytes };
}
