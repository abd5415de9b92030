/**
 * `changes`: what differs between two versions of a layer, from their indexes alone: files
 * added, removed and modified (and how), and the bytes a receiver holding the old version
 * would have to fetch to get the new one. No file content is read; only index records.
 *
 * @module
 */
import { cleanPath } from '../flatten/path.js';
import type { ChunkRef, EntryMeta, IndexRecord } from '../format/records.js';
import { packRefs } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import type { ChunkReader } from '../store/types.js';
import { type OpenIndexOptions, readIndexRecords } from './open-index.js';

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

/** One changed path. */
export interface FileChange {
  /** Cleaned path (no leading `./` or `/`). */
  path: string;
  change: 'added' | 'removed' | 'modified';
  /** The entry's typeflag (the new one, or the old one for a removal). */
  typeflag: string;
  /** Size in the new version (0 when removed): a sparse file's expanded size. */
  size: number;
  /** Size in the old version (0 when added). */
  oldSize: number;
  /** For modifications: what changed. */
  aspects?: ChangeAspect[];
  /** Bytes of this file's chunks that the old version does not hold. */
  newBytes: number;
}

/** The difference between two indexes. */
export interface ChangesResult {
  oldDiffId: string;
  newDiffId: string;
  /** Changed paths, in the new index's order (removals last, in the old index's order). */
  files: FileChange[];
  added: number;
  removed: number;
  modified: number;
  /** Whiteouts the new version records (paths it deletes from the layers below it). */
  deletions: string[];
  /** Distinct data chunks of the new version the old one lacks, and their bytes. */
  chunksToMove: number;
  bytesToMove: number;
  /** Distinct index chunks of the new version the old one lacks, and their bytes. */
  indexChunksToMove: number;
  indexBytesToMove: number;
}

/** What is kept of an old entry to compare with: metadata and a digest of its chunk list. */
interface Seen {
  meta: EntryMeta;
  content: string;
}

/** Reads one index: calls `onEntry` per entry with its chunk list's digest; returns chunk sets. */
async function walk(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  hash: HashProvider,
  options: OpenIndexOptions,
  onEntry: (meta: EntryMeta, content: string, refs: ChunkRef[]) => void,
  onDelete: (path: string) => void,
): Promise<{ data: Map<string, number>; meta: Map<string, number>; diffId: string }> {
  const data = new Map<string, number>();
  const meta = new Map<string, number>();
  let diffId = '';
  const records = readIndexRecords(index, store, {
    ...options,
    hash,
    onIndexChunk: (ref) => meta.set(formatDigest(ref.digest), ref.length),
  }).getReader();
  let current: { meta: EntryMeta; refs: ChunkRef[] } | undefined;
  const finish = async () => {
    if (!current) return;
    onEntry(current.meta, formatDigest(await hash.digest(packRefs(current.refs))), current.refs);
    current = undefined;
  };
  for (;;) {
    const { done, value } = await records.read();
    if (done) break;
    const r: IndexRecord = value;
    switch (r.type) {
      case 'entry':
        await finish();
        current = { meta: r.entry, refs: [] };
        break;
      case 'delete':
      case 'tail':
        await finish();
        if (r.type === 'delete') onDelete(cleanPath(r.path).path);
        break;
      case 'chunks':
        for (const ref of r.refs) {
          data.set(formatDigest(ref.digest), ref.length);
          current?.refs.push(ref);
        }
        break;
      case 'end':
        await finish();
        diffId = formatDigest(r.diffId);
        break;
      default:
        break;
    }
  }
  return { data, meta, diffId };
}

function aspects(a: EntryMeta, b: EntryMeta, sameContent: boolean): ChangeAspect[] {
  const out: ChangeAspect[] = [];
  if (a.typeflag !== b.typeflag) out.push('type');
  // A sparse file's data chunks say nothing of where they sit: the map is part of its content.
  if (!sameContent || sparseLayout(a) !== sparseLayout(b)) out.push('content');
  if (fileSize(a) !== fileSize(b)) out.push('size');
  if (a.mode !== b.mode) out.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid || a.uname !== b.uname || a.gname !== b.gname) {
    out.push('owner');
  }
  if (a.mtime.sec !== b.mtime.sec || a.mtime.nsec !== b.mtime.nsec) out.push('mtime');
  if (a.linkname !== b.linkname) out.push('link');
  if (a.devmajor !== b.devmajor || a.devminor !== b.devminor) out.push('device');
  const xa = Object.keys(a.xattrs).sort();
  const xb = Object.keys(b.xattrs).sort();
  if (
    xa.join('\0') !== xb.join('\0') ||
    xa.some((k) => formatBytes(a.xattrs[k]!) !== formatBytes(b.xattrs[k]!))
  ) {
    out.push('xattrs');
  }
  return out;
}

/** A file's size: a sparse file's expanded size, else its body's. */
function fileSize(m: EntryMeta): number {
  return m.sparse?.realSize ?? m.size;
}

/** Where a sparse file's data sits (format, size and map), as comparable text; '' if not sparse. */
function sparseLayout(m: EntryMeta): string {
  const s = m.sparse;
  return s ? `${s.format} ${s.realSize} ${(s.map ?? []).join(' ')}` : '';
}

function formatBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Compares two indexes (roots or flat) of two versions of a layer.
 *
 * A path that appears more than once counts as its last entry, as extraction would leave it.
 * Compared: type, content (the chunk list), size, mode, owner, mtime, link target, device
 * numbers and xattrs; other pax records, atime and ctime are not. A hardlink is compared by its
 * own entry (its target path), not by its target's content.
 *
 * Memory: the entry metadata and chunk digests of both versions (no file content).
 * @param oldIndex - the old version's index bytes.
 * @param newIndex - the new version's index bytes.
 * @param store - where both indexes' index chunks are.
 * @param options - hashing and decoding limits.
 * @returns the changed files and what must move.
 */
export async function changes(
  oldIndex: ReadableStream<Uint8Array>,
  newIndex: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: OpenIndexOptions = {},
): Promise<ChangesResult> {
  const hash = options.hash ?? webHashProvider();
  const old = new Map<string, Seen>();
  const oldOrder: string[] = [];
  const before = await walk(
    oldIndex,
    store,
    hash,
    options,
    (meta, content) => {
      const path = cleanPath(meta.path).path;
      if (!old.has(path)) oldOrder.push(path);
      old.set(path, { meta, content });
    },
    () => {},
  );
  const files: FileChange[] = [];
  const deletions: string[] = [];
  const seenNew = new Set<string>();
  // The new version's entries, last one per path winning (as extraction would), in the order
  // each path first appears; compared once the whole index has been read.
  const latest = new Map<string, { meta: EntryMeta; content: string; newBytes: number }>();
  const onNew = (meta: EntryMeta, content: string, refs: ChunkRef[]) => {
    let newBytes = 0;
    const counted = new Set<string>();
    for (const ref of refs) {
      const d = formatDigest(ref.digest);
      if (!before.data.has(d) && !counted.has(d)) {
        counted.add(d);
        newBytes += ref.length;
      }
    }
    latest.set(cleanPath(meta.path).path, { meta, content, newBytes });
  };
  const after = await walk(newIndex, store, hash, options, onNew, (path) => deletions.push(path));
  for (const [path, { meta, content, newBytes }] of latest) {
    seenNew.add(path);
    const was = old.get(path);
    if (!was) {
      files.push({
        path,
        change: 'added',
        typeflag: meta.typeflag,
        size: fileSize(meta),
        oldSize: 0,
        newBytes,
      });
      continue;
    }
    const diff = aspects(was.meta, meta, was.content === content);
    if (diff.length > 0) {
      files.push({
        path,
        change: 'modified',
        typeflag: meta.typeflag,
        size: fileSize(meta),
        oldSize: fileSize(was.meta),
        aspects: diff,
        newBytes,
      });
    }
  }
  for (const path of oldOrder) {
    if (seenNew.has(path)) continue;
    const was = old.get(path)!;
    files.push({
      path,
      change: 'removed',
      typeflag: was.meta.typeflag,
      size: 0,
      oldSize: fileSize(was.meta),
      newBytes: 0,
    });
  }
  const toMove = (now: Map<string, number>, then: Map<string, number>) => {
    let chunks = 0;
    let bytes = 0;
    for (const [d, len] of now) {
      if (then.has(d)) continue;
      chunks++;
      bytes += len;
    }
    return { chunks, bytes };
  };
  const data = toMove(after.data, before.data);
  const meta = toMove(after.meta, before.meta);
  return {
    oldDiffId: before.diffId,
    newDiffId: after.diffId,
    files,
    added: files.filter((f) => f.change === 'added').length,
    removed: files.filter((f) => f.change === 'removed').length,
    modified: files.filter((f) => f.change === 'modified').length,
    deletions,
    chunksToMove: data.chunks,
    bytesToMove: data.bytes,
    indexChunksToMove: meta.chunks,
    indexBytesToMove: meta.bytes,
  };
}
