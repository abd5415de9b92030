/**
 * `changes`: what differs between two versions of a layer, from their indexes alone: files
 * added, removed and modified (and how), and the bytes a receiver holding the old version
 * would have to fetch to get the new one. No file content is read; only index records.
 *
 * @module
 */
import { IndexLimitError } from '../errors.js';
import { cleanPath } from '../flatten/path.js';
import type { ChunkRef, EntryMeta, IndexRecord } from '../format/records.js';
import { packRefs } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import { DigestMap } from '../hash/digest-map.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { intOption } from '../options.js';
import type { ChunkReader } from '../store/types.js';
import { type ChangeAspect, EntryTable } from './entry-table.js';
import { type OpenIndexOptions, readIndexRecords } from './open-index.js';

export type { ChangeAspect };

/** Default of {@link ChangesOptions.maxEntries}. */
export const MAX_CHANGES_ENTRIES = 1 << 20;
/** Default of {@link ChangesOptions.maxChunks}. */
export const MAX_CHANGES_CHUNKS = 1 << 24;

/** Options of {@link changes}. */
export interface ChangesOptions extends OpenIndexOptions {
  /**
   * Paths (and whiteouts) either version may hold: `changes` keeps about 200 bytes of each,
   * beside the path itself, in memory. More fail with {@link IndexLimitError}. @default 1048576 (MAX_CHANGES_ENTRIES)
   */
  maxEntries?: number;
  /**
   * Distinct data chunks the old version, and chunks of the new one the old lacks, may each
   * number: about 45 bytes each in memory. More fail with {@link IndexLimitError}.
   * @default 16777216 (MAX_CHANGES_CHUNKS: a layer of about 1 TiB at the default chunk sizes)
   */
  maxChunks?: number;
  /**
   * Called with each changed path, in the order of {@link ChangesResult.files}, once the new
   * index has been read; the changes are then not kept, and `files` is empty.
   */
  onFile?: (change: FileChange) => void;
}

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

/**
 * A running digest of one entry's packed chunk list: one-shot unless it has several records;
 * none for an empty list (the caller has the empty list's digest).
 */
class ListDigest {
  private first: Uint8Array | undefined;
  private running: IncrementalHash | undefined;
  constructor(private readonly hash: HashProvider) {}

  /** True until a chunk record is added. */
  get empty(): boolean {
    return this.first === undefined && this.running === undefined;
  }

  async add(refs: readonly ChunkRef[]): Promise<void> {
    const packed = packRefs(refs);
    if (this.empty) {
      this.first = packed;
      return;
    }
    if (this.running === undefined) {
      this.running = await this.hash.create();
      await this.running.update(this.first!);
      this.first = undefined;
    }
    await this.running.update(packed);
  }

  /** The digest of a list that is not empty. */
  digest(): Promise<Uint8Array> {
    return this.running ? this.running.digest() : this.hash.digest(this.first!);
  }
}

/** Fails when `count` exceeds `limit`, naming the option that sets it. */
function within(count: number, limit: number, what: string, option: 'entries' | 'chunks'): void {
  if (count > limit) {
    throw new IndexLimitError(
      `${what} exceed ${limit}, the most changes keeps in memory (max${option === 'entries' ? 'Entries' : 'Chunks'}; --max-${option} in the CLI)`,
    );
  }
}

/** What {@link walk} reports. */
interface WalkHandlers {
  /** An entry, after its chunk list, with that list's digest. */
  entry: (meta: EntryMeta, content: Uint8Array) => void;
  /** A chunk record; `inEntry` unless it is a whiteout's or the tail's. */
  refs: (refs: readonly ChunkRef[], inEntry: boolean) => void;
  indexChunk: (ref: ChunkRef) => void;
  delete: (path: string) => void;
}

/** Reads one index, reporting what it holds. @returns its diff_id. */
async function walk(
  index: ReadableStream<Uint8Array>,
  store: ChunkReader,
  hash: HashProvider,
  options: OpenIndexOptions,
  on: WalkHandlers,
): Promise<string> {
  let diffId = '';
  const records = readIndexRecords(index, store, {
    ...options,
    hash,
    onIndexChunk: on.indexChunk,
  }).getReader();
  let current: { meta: EntryMeta; list: ListDigest } | undefined;
  // Most entries (directories, links, empty files) have no chunks: one digest serves them all.
  const none = await hash.digest(new Uint8Array(0));
  const finish = async () => {
    if (!current) return;
    const { meta, list } = current;
    current = undefined;
    on.entry(meta, list.empty ? none : await list.digest());
  };
  try {
    for (;;) {
      const { done, value } = await records.read();
      if (done) break;
      const r: IndexRecord = value;
      switch (r.type) {
        case 'entry':
          await finish();
          current = { meta: r.entry, list: new ListDigest(hash) };
          break;
        case 'delete':
        case 'tail':
          await finish();
          if (r.type === 'delete') on.delete(cleanPath(r.path).path);
          break;
        case 'chunks':
          on.refs(r.refs, current !== undefined);
          await current?.list.add(r.refs);
          break;
        case 'end':
          await finish();
          diffId = formatDigest(r.diffId);
          break;
        default:
          break;
      }
    }
  } catch (err) {
    // A limit, or a fault of the index: the rest of it is not read.
    await records.cancel(err).catch(() => {});
    throw err;
  }
  return diffId;
}

/**
 * Compares two indexes (roots or flat) of two versions of a layer.
 *
 * A path that appears more than once counts as its last entry, as extraction would leave it.
 * Compared: type, content (the chunk list), size, mode, owner, mtime, link target, device
 * numbers and xattrs; other pax records, atime and ctime are not. A hardlink is compared by its
 * own entry (its target path), not by its target's content.
 *
 * Memory: the compared fields of each path of both versions (about 200 bytes a path, beside
 * the path), the
 * digests of the old version's chunks and of the new ones (about 45 bytes each), and the
 * changes unless {@link ChangesOptions.onFile} takes them; bounded by
 * {@link ChangesOptions.maxEntries} and {@link ChangesOptions.maxChunks}. No file content.
 * @param oldIndex - the old version's index bytes.
 * @param newIndex - the new version's index bytes.
 * @param store - where both indexes' index chunks are.
 * @param options - hashing, decoding limits, memory limits, and where changes go.
 * @returns the changed files (unless `onFile` took them) and what must move.
 * @throws {@link IndexLimitError} when a version exceeds a memory limit; {@link UsageError}
 *   when a limit is not a positive integer;
 *   {@link RecordFormatError} and store errors as {@link readIndexRecords} does.
 */
export async function changes(
  oldIndex: ReadableStream<Uint8Array>,
  newIndex: ReadableStream<Uint8Array>,
  store: ChunkReader,
  options: ChangesOptions = {},
): Promise<ChangesResult> {
  const hash = options.hash ?? webHashProvider();
  const maxEntries = intOption(options.maxEntries, 'maxEntries', MAX_CHANGES_ENTRIES);
  const maxChunks = intOption(options.maxChunks, 'maxChunks', MAX_CHANGES_CHUNKS);
  const old = new EntryTable();
  const oldData = new DigestMap();
  const oldMeta = new DigestMap();
  const oldDiffId = await walk(oldIndex, store, hash, options, {
    entry: (meta, content) => {
      old.set(cleanPath(meta.path).path, meta, content, 0);
      within(old.size, maxEntries, "the old index's paths", 'entries');
    },
    refs: (refs) => {
      for (const ref of refs) oldData.add(ref.digest, ref.length);
      within(oldData.size, maxChunks, "the old index's distinct chunks", 'chunks');
    },
    indexChunk: (ref) => oldMeta.add(ref.digest, ref.length),
    delete: () => {},
  }).catch(async (err: unknown) => {
    // The new index is not read at all.
    await newIndex.cancel(err).catch(() => {});
    throw err;
  });

  const now = new EntryTable();
  const newData = new DigestMap();
  const newMeta = new DigestMap();
  const moved = { chunks: 0, bytes: 0, indexChunks: 0, indexBytes: 0 };
  const deletions: string[] = [];
  // The current entry's chunks the old version lacks, each counted once.
  let mine = new DigestMap();
  let mineBytes = 0;
  const newDiffId = await walk(newIndex, store, hash, options, {
    entry: (meta, content) => {
      now.set(cleanPath(meta.path).path, meta, content, mineBytes);
      within(
        now.size + deletions.length,
        maxEntries,
        "the new index's paths and whiteouts",
        'entries',
      );
      mineBytes = 0;
      if (mine.size > 0) mine = new DigestMap();
    },
    refs: (refs, inEntry) => {
      for (const ref of refs) {
        if (oldData.has(ref.digest)) continue;
        if (newData.add(ref.digest, ref.length)) {
          moved.chunks++;
          moved.bytes += ref.length;
        }
        if (inEntry && mine.add(ref.digest, 0)) mineBytes += ref.length;
      }
      within(newData.size, maxChunks, "the new index's chunks that the old one lacks", 'chunks');
    },
    indexChunk: (ref) => {
      if (!oldMeta.has(ref.digest) && newMeta.add(ref.digest, ref.length)) {
        moved.indexChunks++;
        moved.indexBytes += ref.length;
      }
    },
    delete: (path) => {
      deletions.push(path);
      within(
        now.size + deletions.length,
        maxEntries,
        "the new index's paths and whiteouts",
        'entries',
      );
    },
  });

  const files: FileChange[] = [];
  const emit = options.onFile ?? ((f: FileChange) => files.push(f));
  const counts = { added: 0, removed: 0, modified: 0 };
  for (const [path, r] of now.entries()) {
    const was = old.row(path);
    if (was === undefined) {
      counts.added++;
      emit({
        path,
        change: 'added',
        typeflag: now.typeflag(r),
        size: now.fileSize(r),
        oldSize: 0,
        newBytes: now.newBytes(r),
      });
      continue;
    }
    const aspects = old.aspects(was, now, r);
    if (aspects.length === 0) continue;
    counts.modified++;
    emit({
      path,
      change: 'modified',
      typeflag: now.typeflag(r),
      size: now.fileSize(r),
      oldSize: old.fileSize(was),
      aspects,
      newBytes: now.newBytes(r),
    });
  }
  for (const [path, r] of old.entries()) {
    if (now.has(path)) continue;
    counts.removed++;
    emit({
      path,
      change: 'removed',
      typeflag: old.typeflag(r),
      size: 0,
      oldSize: old.fileSize(r),
      newBytes: 0,
    });
  }
  return {
    oldDiffId,
    newDiffId,
    files,
    ...counts,
    deletions,
    chunksToMove: moved.chunks,
    bytesToMove: moved.bytes,
    indexChunksToMove: moved.indexChunks,
    indexBytesToMove: moved.indexBytes,
  };
}
