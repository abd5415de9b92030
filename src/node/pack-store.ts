/**
 * A chunk store in a directory of pack files, for Node: the default store of the CLI.
 *
 * Chunks are appended to a pack file (`<root>/packs/.<name>.pack.tmp` while it is written);
 * once the pack reaches its size, or on {@link PackStore.flush}, it is renamed to
 * `<name>.pack` and its index `<name>.idx` is written beside it (temporary file, then rename).
 * An index is the publication point: other processes see a pack's chunks once its index
 * exists. Each writer appends to packs of its own, so several conversions, in one process or
 * several, can share a store; a chunk two of them store at once is kept twice, harmlessly.
 * The formats are in docs/FORMAT.md §13.
 *
 * Why packs: on the filesystems measured here, creating a file per 64 KiB chunk costs three
 * to eight times more than writing the same bytes to one file, more than all the hashing and
 * chunking together. {@link FsStore} keeps a file per chunk for users who want that.
 *
 * The records of a sealed pack whose index lists its digests in ascending order (what this
 * store writes) are looked up in the index file, on disk: in memory the store keeps a filter
 * and fences of it (`PackFilter`, about 2.1 bytes a record; a million chunks, some 64 GiB of
 * data, take 2.1 MB), the filters of packs of about one size in banks of 16 (`FilterSet`) that
 * a lookup asks at once. The records of the packs being written, and of indexes in any other
 * order (written by earlier builds), sit in an in-memory table (`ChunkTable`): a fingerprint
 * of the digest and its entry in its pack's index, 13 to 19 bytes a record. Either way a
 * record counts as the chunk's once its pack's index lists the chunk's digest for it, and its
 * place in the pack is taken from that entry; `get` checks the record itself too.
 *
 * A record `get` proves bad is listed in the pack's `<name>.bad` file (`bad-records.ts`), which
 * stores read when they load the pack, and again when it grows (a look in the background at
 * most every {@link LIST_CHECK_MS}): a listed record counts as absent, so a conversion in
 * another process stores the chunk again, and a garbage collection leaves the record out.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  openSync,
  readSync,
  readvSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChunkCodec, EncodedChunk } from '../compress/chunk-codec.js';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  CompressionError,
  PackFormatError,
  StoreError,
  UsageError,
} from '../errors.js';
import { digestsEqual, formatDigest, parseDigest, SHA256_BYTES } from '../hash/digest.js';
import { intOption } from '../options.js';
import { checkChunkSize } from '../store/chunk-size.js';
import { ChunkTable } from '../store/chunk-table.js';
import {
  type DigestProbe,
  FENCE_ENTRIES,
  FilterKeys,
  FilterSet,
  type PackFilter,
  searchEntries,
} from '../store/pack-filter.js';
import {
  decodeIndexEntry,
  decodeRecordHeader,
  encodeRecordHeader,
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  MAX_PACK_ENTRIES,
  PACK_MAGIC,
  type PackEntry,
  PackIndexBuilder,
  PackIndexCheck,
  RECORD_HEADER_BYTES,
} from '../store/pack-format.js';
import type { ChunkStore, PutOptions } from '../store/types.js';
import {
  appendBadRecord,
  BAD_SUFFIX,
  badRecordKey,
  type ListPlace,
  MAX_BAD_BYTES,
  readBadRecords,
} from './bad-records.js';
import { nodeChunkCodec } from './chunk-codec.js';
import { BLOCKING_CALLS_PER_TURN, forgetTemporaryFile, noteTemporaryFile, syncDir } from './io.js';
import { loopTurns } from './loop-turns.js';
import { ReadAhead } from './read-ahead.js';
import { lockShared, type StoreLock } from './store-lock.js';

/** Name of the directory of packs inside a pack store. */
export const PACKS_DIR = 'packs';

/** Options of {@link PackStore.open}. */
export interface PackStoreOptions {
  /** Flush each pack and its index to disk (`fsync`) before publishing them. @default false */
  fsync?: boolean;
  /**
   * How new chunks are compressed; `false` stores them as they are. Reads understand every
   * coding whatever this says. @default nodeChunkCodec({ algorithm: 'lz4', blocking }) (LZ4 on
   * the calling thread; on a real Debian layer it stored 22% more bytes than deflate level 1
   * and converted in 0.48 s instead of 0.85 s)
   */
  codec?: ChunkCodec | false;
  /** A pack is sealed once it holds this many bytes (1 MiB to 2 GiB). @default 256 MiB */
  packBytes?: number;
  /** Read handles kept open at once. @default 64 */
  openFiles?: number;
  /**
   * A writer removes temporary files in `packs/` (a pack being written, an index being
   * renamed) untouched for this long, which is what a crashed writer leaves; `false` keeps them.
   * A live writer touches its pack at every chunk and flushes it at the end of each pipeline,
   * so only a writer stalled this long loses its pack (its flush then fails; nothing published
   * is touched). At least an hour. @default 24 hours
   */
  removeStaleAfterMs?: number | false;
  /**
   * Read, write and (with the default codec) inflate chunks with synchronous calls on the
   * calling thread: several times cheaper than a thread-pool round trip per chunk (a 1.1 GiB
   * conversion into an empty store took 1.9 s instead of 2.4 s), but each call blocks the
   * event loop while it runs. For command-line tools, not servers. @default false
   */
  blocking?: boolean;
  /**
   * Hold a shared lock of the store from `open` to `close` (see `store-lock.ts`), so that no
   * garbage collection runs meanwhile, and refuse to open while one runs. Only a collection
   * itself opens its store without. @default true
   */
  lock?: boolean;
  /**
   * How long `open` keeps trying, in milliseconds, while a garbage collection holds the store
   * (then {@link StoreLockedError}). @default 0
   */
  lockWaitMs?: number;
  /**
   * Which packs already in the directory to load, by name (`false`: none). The others are
   * never loaded, not even by {@link PackStore.refresh}: `put` stores again the chunks only
   * they hold, and `get` does not find them. A garbage collection writes the chunks it keeps
   * into new packs this way, leaving out the packs it rewrites. @default true
   */
  loadPacks?: boolean | ((name: string) => boolean);
  /**
   * Where a pack that cannot be loaded (its index malformed, or its pack missing or of
   * another size than the index says) is reported; such a pack is then left out, its chunks
   * not found, where by default it refuses the store (`open`, `refresh`) with
   * {@link PackFormatError}. `verifyStore` reports them this way.
   */
  onMalformedPack?: (name: string, error: PackFormatError) => void;
  /**
   * Append the records `get` proves bad to their packs' lists (`packs/<name>.bad`, see
   * {@link PackStore.get}); `false` keeps them in memory only, so that the store writes
   * nothing it is not asked to (a garbage collection's dry run). @default true
   */
  markBad?: boolean;
}

/** A pack file: one being written by this store, or a sealed one. */
interface Pack {
  /** Current path: the temporary name while written, then the final one. */
  path: string;
  /** Bytes written or reserved so far (the next record's offset) while open. */
  size: number;
  /** While open: its records so far, the writes still in flight, and the batch gathering. */
  open?: {
    entries: PackIndexBuilder;
    writes: Set<Promise<void>>;
    handle: Promise<FileHandle>;
    batch?: Batch;
  };
  /** Set once the pack file has its final name (its index may still be unwritten). */
  renamed?: boolean;
  /** Set once its index is written: from then on it is published, whatever fails after. */
  indexed?: boolean;
  /** With `fsync`: set once that name is on disk. */
  nameSynced?: boolean;
  /** Set once sealed, when its index is sorted: its records are then looked up on disk. */
  filter?: PackFilter;
}

/**
 * Records bound for a pack, written together in one call: at the next turn of the event loop,
 * or as soon as it is full. Records written one call each cost about twice the system time
 * (0.44 s against 0.23 s for 1.1 GiB of 64 KiB records in batches of 16), and a thread-pool
 * round trip each when not blocking.
 */
interface Batch {
  /** Record headers and stored bytes, in pack order (the callers' buffers, not copies). */
  parts: Uint8Array[];
  bytes: number;
  /** Settles once every part is written, or the write failed. */
  written: Promise<void>;
  /** Starts the write now instead of at the next turn. */
  start(): void;
}

/** A batch is written at once when it holds this many bytes... */
const BATCH_BYTES = 1024 * 1024;
/** ...or this many parts (a record is two: a `writev` takes at most 1024). */
const BATCH_PARTS = 512;

/**
 * A pack is sealed once it holds this many records, however small they are: the index of the
 * open pack is held in memory (52 bytes a record, up to twice that while it grows), so this
 * bounds it at 3.4 MiB. (At 65,536 records, a layer of 200,000 small files converted in 4 MiB
 * more: 105 against 101 MiB.) The format allows MAX_PACK_ENTRIES.
 */
export const OPEN_PACK_ENTRIES = Math.min(1 << 15, MAX_PACK_ENTRIES);

/**
 * Records of one chunk (strictly, of one fingerprint) kept from the indexes a store loads, the
 * oldest giving way: a store keeps one record of a chunk per pack, so more copies take as many
 * writers storing it at once, or damaged or hostile indexes, and each record would lengthen
 * every lookup of it.
 */
const MAX_COPIES = 16;
/** Entries of a pack index read at once while a store loads it (64 KiB). */
const INDEX_READ_ENTRIES = 1260;
/** Entries of a pack index read at once to confirm records (13 KiB). */
const INDEX_BLOCK_ENTRIES = 256;
/** Index blocks kept, one per pack at most. */
const MAX_INDEX_BLOCKS = 16;

/** A read handle shared by concurrent reads. */
interface Handle {
  fh: Promise<FileHandle>;
  /** Reads using it now. */
  users: number;
  /** Once retired: called when the last read using it ends. */
  idle?: () => void;
  /** Once retired: its closing, which waits for the reads using it. */
  closed?: Promise<void>;
}

/** What {@link PackStore.confirm} finds: a copy of the chunk, or an index entry that is bad. */
type Confirmation = { pack: number; entry: PackEntry } | { bad: string };

/**
 * What is wrong with a record read: `proven` when the record's bytes were all read and are
 * not the chunk's (a header of another chunk, a payload that does not decode, a digest that
 * does not match), as opposed to a pack that ended early (it may be changing under the read).
 */
interface BadRecord {
  bad: string;
  proven: boolean;
}

/** A copy in a filtered pack, and its key (see {@link filteredKey}). */
type Found = Confirmation & { key: number };

/**
 * The key of entry `entry` of a filtered pack, for the sets of records tried: above every
 * record number of the table (below 2^32), and a safe integer for any pack number below 2^30.
 */
function filteredKey(pack: number, entry: number): number {
  return 2 ** 32 + pack * MAX_PACK_ENTRIES + entry;
}

/**
 * Records a store takes from the `<name>.bad` files of all its packs, at most (some 200 bytes
 * each, by arithmetic: a key and its place in a map, about 13 MB). Only lines that name a
 * record of their pack count, so only a store with that many records listed bad (damaged, or
 * its lists hostile) reaches it; lines past it are left unread, and the records they name are
 * found bad again when read.
 */
const MAX_LISTED = 65_536;

/**
 * `has` and `put` start a look for lists of bad records written or grown since the store last
 * read them at most this often, in milliseconds, and answer without waiting for it: a listing
 * of `packs/` and a `stat` of each list of a loaded pack, and the lines appended to the lists
 * that changed read (a long-running `serve`, or a conversion under way, would otherwise count
 * as held a record another process has since proven bad).
 */
export const LIST_CHECK_MS = 1000;

/**
 * How many lists a look for grown lists `stat`s at once. One after another, the 2,000 lists of
 * a store of 2,000 packs took 80 to 113 ms; all at once, they would fill the thread pool's
 * queue ahead of the reads of `has` and `get`.
 */
const LIST_STATS = 16;

/** Index files kept open to read their blocks, when not blocking. */
const MAX_INDEX_HANDLES = 16;

/**
 * Blocks of filtered packs' indexes kept, at 3,328 bytes each (2.4 MiB): half again the 512
 * blocks of a full pack, so that chunks looked up in the order they were written (`cat`, a
 * conversion of a layer stored before) read each block of their pack once.
 */
const MAX_FILTER_BLOCKS = 768;

/**
 * Closes a read handle once no read is using it: a read under way keeps its descriptor (closed
 * under it, the read would fail, or read another file that reused the number).
 */
function retire(h: Handle): Promise<void> {
  h.closed ??= new Promise<void>((resolve) => {
    h.idle = resolve;
    if (h.users === 0) resolve();
  })
    .then(() => h.fh)
    .then((fh) => fh.close())
    .catch(() => {});
  return h.closed;
}

const READ_CODEC = nodeChunkCodec();
/** Decodes a record read again to prove it bad: on this thread, so no pool failure counts. */
const PROOF_CODEC = nodeChunkCodec({ blocking: true });
/** Errors of node:zlib that a payload causes; any other (memory, say) proves nothing. */
const DATA_ERRORS = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR', 'Z_NEED_DICT', 'ERR_BUFFER_TOO_LARGE']);
/** Names of packs (without `.pack` or `.idx`): docs/FORMAT.md §13.1. */
export const PACK_NAME_RE = /^[0-9a-z]{9}-[0-9a-f]{16}$/;
/** Temporary files a writer makes: a pack being written, an index before its rename. */
export const TEMPORARY_RE =
  /^(\.[0-9a-z]{9}-[0-9a-f]{16}\.pack\.tmp|[0-9a-z]{9}-[0-9a-f]{16}\.idx\.[0-9a-f]{12}\.tmp)$/;
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;
/** Shorter would remove the packs of live writers that merely paused. */
const MIN_STALE_AFTER_MS = 60 * 60 * 1000;

/** A {@link ChunkStore} of pack files. Every read is verified against its digest. */
export class PackStore implements ChunkStore {
  readonly verifiesReads = true;
  /**
   * The records of packs being written and of packs whose index is not sorted (written by
   * older versions): pack, index entry, a fingerprint of the digest.
   */
  private readonly table = new ChunkTable();
  /** The keys of every filter. */
  private readonly filterKeys = new FilterKeys();
  /** The filters of the filtered packs. */
  private readonly filters = new FilterSet();
  /** Sealed packs with a filter, whose records are looked up on disk, oldest first. */
  private readonly filtered: number[] = [];
  /** Entries the filtered packs list, but for those found bad. */
  private filteredEntries = 0;
  /** Entries of filtered packs found bad (see {@link filteredKey}): they count as absent. */
  private readonly badEntries = new Set<number>();
  /**
   * Records of sealed packs listed bad (in `<name>.bad` files, or found bad here), by pack
   * name, each with whether this store proved it bad itself: see {@link isListedBad} and
   * {@link isProvenBad}.
   */
  private readonly listedBad = new Map<string, Map<string, boolean>>();
  /** Records taken from `<name>.bad` files so far (at most {@link MAX_LISTED}). */
  private listedLoaded = 0;
  /** How far each `<name>.bad` file has been read, by pack name. */
  private readonly listsRead = new Map<string, ListPlace>();
  /** When `has` or `put` last started a look for lists grown since (see {@link lookForLists}). */
  private listsCheckedAt = Date.now();
  /** That look, while it runs (`close` waits for it). */
  private looking: Promise<void> | undefined;
  /** Blocks of filtered packs' indexes, by pack and block (least recently used first). */
  private readonly filterBlocks = new Map<number, Uint8Array>();
  /** Read-ahead of small records read in order, when blocking. */
  private readonly readAhead = new ReadAhead();
  /** Read handles of index files, when not blocking, by pack (least recently used first). */
  private readonly indexHandles = new Map<number, Handle>();
  private readonly packs: Pack[] = [];
  /** Pack numbers by name (see {@link PackStore.publishedPack}). */
  private readonly packNumbers = new Map<string, number>();
  private readonly loaded = new Set<string>();
  private readonly pending = new Map<number, Promise<void>>();
  private readonly handles = new Map<number, Handle>();
  /** Closings of handles retired while reads used them (`close` waits for them). */
  private readonly retiring = new Set<Promise<void>>();
  /** Blocks of sealed packs' index files read to confirm records, by pack (least recent first). */
  private readonly indexBlocks = new Map<number, { first: number; bytes: Promise<Uint8Array> }>();
  /** Publications under way, by pack. */
  private readonly publishing = new Map<number, Promise<void>>();
  /** Sealed packs whose publication failed: every `flush` retries them, and fails until it can. */
  private readonly unpublished = new Set<number>();
  private current: number | undefined;
  private readonly codec: ChunkCodec | false;
  private readonly packBytes: number;
  private readonly openFiles: number;
  private closed = false;
  private refreshing: Promise<void> | undefined;
  /** The removal of stale temporary files, started by the first write. */
  private sweeping: Promise<void> | undefined;
  /** The store's shared lock, held until `close`. */
  private lock: StoreLock | undefined;
  private readonly turn = loopTurns(BLOCKING_CALLS_PER_TURN);

  private constructor(
    /** The store's root directory. */
    readonly root: string,
    private readonly options: PackStoreOptions,
  ) {
    this.codec = options.codec ?? nodeChunkCodec({ algorithm: 'lz4', blocking: options.blocking });
    this.packBytes = intOption(options.packBytes, 'packBytes', 256 * 1024 * 1024);
    if (this.packBytes < 1 << 20 || this.packBytes > 2 ** 31) {
      throw new UsageError(`packBytes must be 1 MiB to 2 GiB, got ${this.packBytes}`);
    }
    this.openFiles = Math.max(1, intOption(options.openFiles, 'openFiles', 64));
    const stale = options.removeStaleAfterMs;
    if (
      stale !== undefined &&
      stale !== false &&
      !(typeof stale === 'number' && stale >= MIN_STALE_AFTER_MS)
    ) {
      throw new UsageError(
        `removeStaleAfterMs must be at least ${MIN_STALE_AFTER_MS} (an hour) or false, got ${stale}`,
      );
    }
  }

  /**
   * Opens (creating if needed) a pack store in a directory and loads the indexes of its packs.
   * @param root - the directory.
   * @param options - durability, compression, pack size.
   * @throws {@link PackFormatError} when a pack index is malformed or its pack is missing or
   * short (delete that `.idx` to drop the pack; its chunks are then stored again when needed).
   * @throws {@link StoreLockedError} while a garbage collection runs on the store.
   */
  static async open(root: string, options: PackStoreOptions = {}): Promise<PackStore> {
    const store = new PackStore(root, options);
    await mkdir(join(root, PACKS_DIR), { recursive: true }).catch((err: Error) => {
      throw new StoreError(`creating ${join(root, PACKS_DIR)}: ${err.message}`, { cause: err });
    });
    if (options.lock !== false) store.lock = await lockShared(root, options.lockWaitMs);
    try {
      const load = options.loadPacks ?? true;
      if (load !== true) {
        // The packs left out count as loaded, so that no refresh loads them.
        for (const n of await readdir(join(root, PACKS_DIR))) {
          const name = n.slice(0, -4);
          if (n.endsWith('.idx') && (load === false || !load(name))) store.loaded.add(name);
        }
      }
      await store.refresh();
    } catch (err) {
      await store.lock?.release();
      throw err;
    }
    return store;
  }

  /** How many chunk records the store knows of (a chunk two writers stored counts twice). */
  get chunks(): number {
    return this.table.size + this.filteredEntries;
  }

  /**
   * Loads the indexes of packs other writers have published since this store was opened.
   * `get` does this by itself before it reports a chunk missing.
   */
  refresh(): Promise<void> {
    // Concurrent misses share one look at the directory.
    this.refreshing ??= this.loadNewPacks().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async loadNewPacks(): Promise<void> {
    const dir = join(this.root, PACKS_DIR);
    const all = await readdir(dir).catch((err: Error) => {
      throw new StoreError(`listing ${dir}: ${err.message}`, { cause: err });
    });
    const names = all.filter((n) => n.endsWith('.idx') && PACK_NAME_RE.test(n.slice(0, -4))).sort();
    // Only the lists this listing shows are read: most packs have none.
    const lists = new Set(all.filter((n) => n.endsWith(BAD_SUFFIX)));
    // One block buffer reads every index in turn: an index is never held whole (the format
    // allows 218 MB), and nothing is left to the collector (with a buffer per index file,
    // opening a store of 12 packs of small chunks left 20 MB of them, and `cat` of 400,000
    // small files peaked at 100 MiB there).
    const block = new Uint8Array(INDEX_READ_ENTRIES * INDEX_ENTRY_BYTES);
    for (const n of names) {
      const name = n.slice(0, -4);
      if (this.loaded.has(name)) continue;
      let packNo: number;
      try {
        packNo = await this.loadPack(name, block);
      } catch (err) {
        const skip = this.options.onMalformedPack;
        if (!(skip && err instanceof PackFormatError)) throw err;
        // Left out for good: not loaded, nor tried again by `refresh`.
        this.loaded.add(name);
        skip(name, err);
        continue;
      }
      this.loaded.add(name);
      if (lists.has(`${name}${BAD_SUFFIX}`)) await this.readList(packNo, name);
    }
  }

  /**
   * Loads a pack's index, read in blocks into `block` twice: once to check all of it (see
   * {@link PackIndexCheck}), then to take its entries.
   * @returns the pack's number.
   */
  private async loadPack(name: string, block: Uint8Array): Promise<number> {
    const idxPath = join(this.root, PACKS_DIR, `${name}.idx`);
    const packPath = join(this.root, PACKS_DIR, `${name}.pack`);
    const { fh, size } = await openIndexFile(idxPath);
    try {
      const read = (into: Uint8Array, at: number) =>
        readIndexAt(fh, into, at, idxPath, this.options.blocking === true);
      const header = await read(block.subarray(0, INDEX_HEADER_BYTES), 0);
      const check = new PackIndexCheck(header, size, idxPath);
      // The size the index states is checked with the rest of it below, before any entry is
      // taken.
      const packSize = check.packSize;
      const packStat = await stat(packPath).catch(() => undefined);
      if (!packStat?.isFile() || packStat.size !== packSize) {
        const what = packStat ? `${packStat.size} bytes` : 'missing';
        throw new PackFormatError(packPath, 0, `pack is ${what}; its index says ${packSize} bytes`);
      }
      for (let at = INDEX_HEADER_BYTES; at < check.body; at += block.length) {
        const n = Math.min(block.length, check.body - at);
        check.entries(await read(block.subarray(0, n), at));
      }
      check.finish(await read(block.subarray(0, 4), check.body));
      if (check.sorted) {
        return await this.loadFilter(
          check.count,
          { path: packPath, size: packSize },
          fh,
          block,
          idxPath,
        );
      }
      // Pushed first: should the file change before the second read ends (an error then), the
      // records taken so far still name a pack.
      const pack = this.packs.push({ path: packPath, size: packSize }) - 1;
      // A chunk two packs hold has two records: reads try the later one first, and fall back
      // to the other when it is bad (a repair may sit in either). One pack holds a chunk once:
      // an index that lists it again is damaged or hostile, and only its first entry is kept
      // (the others, bad copies, could otherwise take every place the limit leaves, and hide a
      // good copy another pack holds). Only digests are taken here: a record's place is read,
      // and checked again, from its entry when the record is confirmed.
      let digest: Uint8Array = block;
      let first = 0;
      let n = 0;
      const earlier = new Uint8Array(SHA256_BYTES);
      /**
       * Entry `k`'s digest: in the block, or read again (for a digest listed twice, or two that
       * share a fingerprint).
       */
      const digestOf = (k: number): Uint8Array => {
        if (k >= first) {
          const at = (k - first) * INDEX_ENTRY_BYTES;
          return block.subarray(at, at + SHA256_BYTES);
        }
        const position = INDEX_HEADER_BYTES + k * INDEX_ENTRY_BYTES;
        let got: number;
        try {
          got = readSync(fh.fd, earlier, 0, SHA256_BYTES, position);
        } catch (err) {
          throw new StoreError(`reading pack index ${idxPath}: ${(err as Error).message}`, {
            cause: err,
          });
        }
        if (got < SHA256_BYTES) {
          throw new PackFormatError(
            idxPath,
            position,
            'pack index cut short (it shrank as it was read)',
          );
        }
        return earlier;
      };
      const listedBefore = (r: number) =>
        this.table.pack(r) === pack && digestsEqual(digestOf(this.table.entry(r)), digest);
      for (first = 0; first < check.count; first += n) {
        n = Math.min(INDEX_READ_ENTRIES, check.count - first);
        const at = INDEX_HEADER_BYTES + first * INDEX_ENTRY_BYTES;
        const bytes = await read(block.subarray(0, n * INDEX_ENTRY_BYTES), at);
        for (let i = 0; i < n; i++) {
          digest = bytes.subarray(i * INDEX_ENTRY_BYTES, i * INDEX_ENTRY_BYTES + SHA256_BYTES);
          this.table.add(digest, pack, first + i, MAX_COPIES, listedBefore);
        }
      }
      return pack;
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /**
   * Takes a checked index of `count` entries in ascending digest order into a filter (read
   * again in blocks into `block`), and adds its pack as a filtered one.
   * @returns the pack's number.
   */
  private async loadFilter(
    count: number,
    pack: Pack,
    fh: FileHandle,
    block: Uint8Array,
    idxPath: string,
  ): Promise<number> {
    const filter = this.filters.create(count, this.filterKeys);
    for (let first = 0; first < count; first += INDEX_READ_ENTRIES) {
      const n = Math.min(INDEX_READ_ENTRIES, count - first);
      const at = INDEX_HEADER_BYTES + first * INDEX_ENTRY_BYTES;
      const bytes = await readIndexAt(
        fh,
        block.subarray(0, n * INDEX_ENTRY_BYTES),
        at,
        idxPath,
        this.options.blocking === true,
      );
      for (let i = 0; i < n; i++) {
        if (!filter.add(bytes, i * INDEX_ENTRY_BYTES)) {
          const where = at + i * INDEX_ENTRY_BYTES;
          throw new PackFormatError(idxPath, where, 'pack index changed as it was read');
        }
      }
    }
    const packNo = this.packs.push(pack) - 1;
    pack.filter = filter;
    filter.position = this.filtered.push(packNo) - 1;
    this.filteredEntries += count;
    return packNo;
  }

  private digestOf(digest: string): Uint8Array {
    const raw = parseDigest(digest);
    if (!raw) throw new UsageError(`not a sha256 digest: ${JSON.stringify(digest)}`);
    return raw;
  }

  /**
   * Tells whether the store holds a chunk, waiting out a write of it in flight (a write that
   * fails leaves the chunk absent). A chunk whose pack is not published yet counts as held:
   * `flush` publishes it, or fails. A record counts when its pack's index lists the chunk's
   * digest for it (its bytes are checked by `get`), as before this store kept fingerprints,
   * and it is not listed bad (docs/FORMAT.md §13.6; once {@link LIST_CHECK_MS} have passed
   * since the last look for lists written or grown since the store read them, a call starts
   * another, and answers from what the store knows meanwhile).
   */
  async has(digest: string): Promise<boolean> {
    const raw = this.digestOf(digest);
    this.lookForLists();
    const other = new Set<number>();
    for (let ids = this.unconfirmed(raw, other); ids.length > 0; ) {
      if (await this.holdsAny(raw, ids, other)) return true;
      ids = this.unconfirmed(raw, other);
    }
    const probe = this.filterKeys.probe(raw);
    return this.holdsFiltered(raw, probe, 0);
  }

  /**
   * The newest of the filtered packs from `filtered[from]` on (and below `filtered[below]`)
   * whose filter may list the probe's digest, as its place in `filtered`; -1 for none.
   */
  private newestMaybe(probe: DigestProbe, from: number, below?: number): number {
    return this.filters.newest(probe, from, below)?.position ?? -1;
  }

  /**
   * Whether a filtered pack from `filtered[from]` on lists `raw` (its entry good, as far as
   * the index tells, and the record not listed bad). Most digests asked for are in no filter:
   * those get their answer in this turn, with no promise to wait for.
   */
  private holdsFiltered(
    raw: Uint8Array,
    probe: DigestProbe,
    from: number,
  ): false | Promise<boolean> {
    const newest = this.newestMaybe(probe, from);
    if (newest < 0) return false;
    return (async () => {
      /** Records listed bad, skipped the next time round (a bad entry is forgotten). */
      const listed = new Set<number>();
      for (;;) {
        const found = await this.findFiltered(raw, probe, from, listed, newest);
        if (!found) return false;
        if ('bad' in found) continue;
        if (!this.isListed(found.pack, found.entry)) return true;
        listed.add(found.key);
      }
    })();
  }

  /**
   * The newest copy of `raw` in a filtered pack from `filtered[from]` to `filtered[newest]`,
   * as its index (read from disk) lists it, but for entries in `skip` or found bad before; a
   * bad entry found now is returned as such, and counts as absent from then on. Only packs
   * whose filter lets the digest through are looked in, each found by asking the filters
   * again below the last.
   */
  private async findFiltered(
    raw: Uint8Array,
    probe: DigestProbe,
    from: number,
    skip?: ReadonlySet<number>,
    newest = this.newestMaybe(probe, from),
  ): Promise<Found | undefined> {
    // Packs filtered meanwhile are pushed at the end: the ones below stay where they are.
    for (let i = newest; i >= from; i = this.newestMaybe(probe, from, i)) {
      const packNo = this.filtered[i]!;
      const pack = this.packs[packNo]!;
      const last = pack.filter!.lastBlock(probe);
      for (let b = pack.filter!.firstBlock(probe); b <= last; b++) {
        // A kept block is searched in this turn: most lookups of stored chunks wait for nothing.
        const kept = this.keptBlock(packNo, b);
        const bytes = kept ?? (await this.readIndexBlock(packNo, b * FENCE_ENTRIES, FENCE_ENTRIES));
        const k = searchEntries(bytes, INDEX_ENTRY_BYTES, raw);
        if (k < 0) continue;
        if (!kept) this.keepBlock(packNo, b, bytes);
        const entryNo = b * FENCE_ENTRIES + k;
        const key = filteredKey(packNo, entryNo);
        // The pack lists the digest once (its index is sorted strictly).
        if (skip?.has(key) || this.badEntries.has(key)) break;
        // The index was checked when it was loaded, but it is outside input, read again here.
        const position = INDEX_HEADER_BYTES + entryNo * INDEX_ENTRY_BYTES;
        const at = k * INDEX_ENTRY_BYTES;
        try {
          const entry = decodeIndexEntry(
            bytes.slice(at, at + INDEX_ENTRY_BYTES),
            pack.size,
            indexPathOf(pack.path),
            position,
          );
          return { key, pack: packNo, entry };
        } catch (err) {
          if (!(err instanceof PackFormatError)) throw err;
          this.forgetFiltered(key);
          return { key, bad: err.message };
        }
      }
    }
    return undefined;
  }

  /** Counts entry `key` of a filtered pack as absent from now on (a bad copy). */
  private forgetFiltered(key: number): void {
    if (this.badEntries.has(key)) return;
    this.badEntries.add(key);
    this.filteredEntries--;
  }

  /**
   * Block `b` ({@link FENCE_ENTRIES} entries) of a filtered pack's index file, when it is
   * kept (see {@link keepBlock}).
   */
  private keptBlock(packNo: number, b: number): Uint8Array | undefined {
    // Under 2^16 blocks a pack (2^22 entries at most).
    const id = packNo * 2 ** 16 + b;
    const kept = this.filterBlocks.get(id);
    if (kept) {
      // Most recently used last.
      this.filterBlocks.delete(id);
      this.filterBlocks.set(id, kept);
    }
    return kept;
  }

  /**
   * Keeps a block of a filtered pack's index, read because its filter let a digest through,
   * when it listed the digest (fewer entries at the index's end). One read for
   * a digest its filter let through by chance is not kept: chunks looked up in the order they
   * were written fall in random blocks of their pack, all of them kept once read, and the
   * blocks of other packs read by chance pushed them out (200,000 lookups of small chunks
   * read 11,513 blocks, where their packs have 3,124).
   */
  private keepBlock(packNo: number, b: number, bytes: Uint8Array): void {
    const id = packNo * 2 ** 16 + b;
    if (this.filterBlocks.has(id)) return;
    for (const old of this.filterBlocks.keys()) {
      if (this.filterBlocks.size < MAX_FILTER_BLOCKS) break;
      this.filterBlocks.delete(old);
    }
    this.filterBlocks.set(id, bytes);
  }

  /** The records that may hold `raw` (by fingerprint), newest first, but for those in `other`. */
  private unconfirmed(raw: Uint8Array, other: ReadonlySet<number>): number[] {
    const ids = this.table.candidates(raw);
    return other.size === 0 ? ids : ids.filter((id) => !other.has(id));
  }

  /**
   * Whether record `id` is a copy of chunk `raw`, as its pack's index says: waits out the
   * record's write if one is in flight, then reads the record's entry in memory while the pack
   * is being written, or in a block of the index file (blocks are kept, so that records looked
   * up in the order they were written cost one read a block). `get` checks the record itself.
   * @returns the record's pack and entry (where the record is, its coding and sizes); or, when
   *   the entry lists the chunk but is malformed (the index file changed since it was loaded),
   *   what is wrong, and the record is forgotten, so that a put stores the chunk again; or
   *   nothing when the record is not the chunk's.
   */
  private async confirm(id: number, raw: Uint8Array): Promise<Confirmation | undefined> {
    const write = this.pending.get(id);
    if (write) await write.catch(() => {});
    if (!this.table.has(id)) return undefined;
    const packNo = this.table.pack(id);
    const entryNo = this.table.entry(id);
    const pack = this.packs[packNo]!;
    if (pack.open) {
      const entry = pack.open.entries.find(entryNo, raw);
      return entry && { pack: packNo, entry };
    }
    const bytes = await this.indexEntry(packNo, entryNo);
    // A read may have found the record bad (and dropped it) meanwhile: the pack number above
    // is still the record's only while it is held.
    if (!bytes || !this.table.has(id) || !digestsEqual(bytes.subarray(0, SHA256_BYTES), raw)) {
      return undefined;
    }
    // The index file was checked when it was loaded, but it is outside input, read again here.
    const file = indexPathOf(pack.path);
    const position = INDEX_HEADER_BYTES + entryNo * INDEX_ENTRY_BYTES;
    try {
      return { pack: packNo, entry: decodeIndexEntry(bytes.slice(), pack.size, file, position) };
    } catch (err) {
      if (!(err instanceof PackFormatError)) throw err;
      this.table.remove(id);
      return { bad: err.message };
    }
  }

  /** Entry `entry` of a sealed pack's index file, from a kept block or read; none past its end. */
  private async indexEntry(packNo: number, entry: number): Promise<Uint8Array | undefined> {
    const first = entry - (entry % INDEX_BLOCK_ENTRIES);
    let block = this.indexBlocks.get(packNo);
    if (block?.first !== first) {
      block = { first, bytes: this.readIndexBlock(packNo, first, INDEX_BLOCK_ENTRIES) };
      this.indexBlocks.set(packNo, block);
      // A failed read is not kept.
      const kept = block;
      kept.bytes.catch(() => {
        if (this.indexBlocks.get(packNo) === kept) this.indexBlocks.delete(packNo);
      });
      for (const p of this.indexBlocks.keys()) {
        if (this.indexBlocks.size <= MAX_INDEX_BLOCKS) break;
        this.indexBlocks.delete(p);
      }
    } else {
      // Most recently used last.
      this.indexBlocks.delete(packNo);
      this.indexBlocks.set(packNo, block);
    }
    const bytes = await block.bytes;
    const at = (entry - first) * INDEX_ENTRY_BYTES;
    return at + INDEX_ENTRY_BYTES <= bytes.length
      ? bytes.subarray(at, at + INDEX_ENTRY_BYTES)
      : undefined;
  }

  /**
   * A read handle of a sealed pack's index file, counted as in use: kept for the next reads
   * (up to {@link MAX_INDEX_HANDLES}), so that a block read is one call on the thread pool
   * instead of three (open, read, close). Once the store is closed, a handle serves one read
   * and is closed after it.
   */
  private indexHandle(packNo: number, path: string, flags: number): Handle {
    let h = this.indexHandles.get(packNo);
    if (h) {
      // Most recently used last.
      this.indexHandles.delete(packNo);
    } else {
      const fresh: Handle = { fh: open(path, flags), users: 0 };
      // A failed open is not kept: the next read tries again.
      fresh.fh.catch(() => {
        if (this.indexHandles.get(packNo) === fresh) this.indexHandles.delete(packNo);
      });
      h = fresh;
    }
    h.users++;
    if (this.closed) {
      this.retire(h);
      return h;
    }
    this.indexHandles.set(packNo, h);
    for (const [p, old] of this.indexHandles) {
      if (this.indexHandles.size <= MAX_INDEX_HANDLES) break;
      this.indexHandles.delete(p);
      this.retire(old);
    }
    return h;
  }

  /**
   * Reads up to `count` entries of a sealed pack's index file from entry `first` (fewer at its
   * end; none when the file is gone).
   */
  private async readIndexBlock(packNo: number, first: number, count: number): Promise<Uint8Array> {
    const path = indexPathOf(this.packs[packNo]!.path);
    const out = new Uint8Array(count * INDEX_ENTRY_BYTES);
    const position = INDEX_HEADER_BYTES + first * INDEX_ENTRY_BYTES;
    // Without blocking: a FIFO put in the index's place must not hang the open.
    const flags = constants.O_RDONLY | constants.O_NONBLOCK;
    let n = 0;
    try {
      if (this.options.blocking) {
        await this.turn();
        const fd = openSync(path, flags);
        try {
          for (let r = 1; r > 0 && n < out.length; n += r) {
            r = readSync(fd, out, n, out.length - n, position + n);
          }
        } finally {
          closeSync(fd);
        }
      } else {
        const h = this.indexHandle(packNo, path, flags);
        try {
          const fh = await h.fh;
          for (let r = 1; r > 0 && n < out.length; n += r) {
            r = (await fh.read(out, n, out.length - n, position + n)).bytesRead;
          }
        } finally {
          if (--h.users === 0) h.idle?.();
        }
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Uint8Array(0);
      throw new StoreError(`reading pack index ${path}: ${(err as Error).message}`, { cause: err });
    }
    return out.subarray(0, n);
  }

  /**
   * Returns a chunk's bytes, decompressed and verified against the digest. A copy that fails
   * verification is forgotten, and the next copy on record (several writers may each have
   * stored the chunk) is tried; when none is left, the next `put` of the chunk stores a good one.
   * A copy in a sealed pack proven bad (see {@link readCopy}) is listed in the pack's
   * `<name>.bad` file too, so that stores opened later (other processes) count it as absent.
   * Copies listed bad are tried last: a damaged or hostile list may name a good one.
   * @param digest - `sha256:<hex>`.
   * @param into - where to read the chunk when it fits: its stored bytes are read into it (one
   *   vectored read, the record header apart), and an LZ4 block is decoded from there into it.
   * @throws {@link ChunkNotFoundError}, {@link ChunkDigestError}, {@link StoreError}.
   */
  async get(digest: string, into?: Uint8Array): Promise<Uint8Array> {
    const raw = this.digestOf(digest);
    /** Records tried: of other chunks, or bad, or listed bad. */
    const tried = new Set<number>();
    /** Copies listed bad, tried once no other serves. */
    const suspects: { pack: number; entry: PackEntry }[] = [];
    let problem: string | undefined;
    for (let refreshed = false; ; ) {
      // Reading would open pack files that nothing closes any more.
      if (this.closed) throw new StoreError(`store ${this.root} is closed`);
      const ids = this.unconfirmed(raw, tried);
      if (ids.length === 0) {
        const found = await this.findFiltered(raw, this.filterKeys.probe(raw), 0, tried);
        if (found) {
          tried.add(found.key);
          if ('bad' in found) {
            problem = found.bad;
            continue;
          }
          if (this.isListed(found.pack, found.entry)) {
            suspects.push(found);
            continue;
          }
          const got = await this.readCopy(found.pack, found.entry, digest, into);
          if (typeof got !== 'string') return got;
          problem = got;
          this.forgetFiltered(found.key);
          continue;
        }
        if (problem === undefined && !refreshed) {
          await this.refresh();
          refreshed = true;
          continue;
        }
        for (const s of suspects) {
          if (this.closed) throw new StoreError(`store ${this.root} is closed`);
          const got = await this.readCopy(s.pack, s.entry, digest, into);
          if (typeof got !== 'string') return got;
          problem = got;
        }
        if (problem !== undefined) throw new ChunkDigestError(digest, problem);
        throw new ChunkNotFoundError(digest);
      }
      for (const id of ids) {
        tried.add(id);
        // Only a record its index lists as this chunk is a copy of it, good or bad.
        const copy = await this.confirm(id, raw);
        if (!copy) continue;
        if ('bad' in copy) {
          problem = copy.bad;
          continue;
        }
        if (this.isListed(copy.pack, copy.entry)) {
          suspects.push(copy);
          continue;
        }
        const got = await this.readCopy(copy.pack, copy.entry, digest, into);
        if (typeof got !== 'string') return got;
        // A bad copy: forgotten, so that a put stores a good one.
        problem = got;
        this.table.remove(id);
      }
    }
  }

  /**
   * The names (without `.pack`) of the published packs this store has loaded, oldest first:
   * those it looks up through sorted indexes and those of older, unsorted ones alike.
   */
  packNames(): string[] {
    return this.packs.filter((p) => !p.open).map((p) => packName(p.path));
  }

  /**
   * Reads one record of a published pack whole and checks it against the digest its index entry
   * lists, as `get` checks the copy it reads: a record proven bad (read twice, and not the
   * chunk either time) is listed bad, so that lookups pass it by, the next `put` of its chunk
   * stores it again, and a garbage collection leaves it out. Every record is read, those listed
   * bad included, whether or not another copy of its chunk reads back.
   * @param pack - a name {@link packNames} gave.
   * @param record - the record's digest, offset and stored size, as the pack's index lists them.
   * @returns `undefined` when the record holds its chunk; else what is wrong with it, and
   *   whether that is proven (a pack that ends early may still be being written: not proven).
   * @throws {@link StoreError} for a pack this store has not loaded, or a read that fails.
   */
  async checkRecord(
    pack: string,
    record: { digest: Uint8Array; offset: number; stored: number },
  ): Promise<{ problem: string; proven: boolean } | undefined> {
    if (this.closed) throw new StoreError(`store ${this.root} is closed`);
    const n = this.publishedPack(pack);
    if (n === undefined) throw new StoreError(`store ${this.root} has no published pack ${pack}`);
    // A read takes the record's place and size from the entry, and the rest from its header.
    const entry = { ...record, coding: 'identity' as const, raw: 0 };
    const got = await this.readCopy(n, entry, formatDigest(record.digest), undefined);
    if (typeof got !== 'string') return undefined;
    return { problem: got, proven: this.isProvenBad(pack, record.digest, record.offset) };
  }

  /**
   * The number of the published pack of this name that this store has loaded, if any. Packs
   * are only appended, and a pack's path changes only as it is published (which clears the
   * map): the map of names is built again when it lists fewer packs than the store holds.
   */
  private publishedPack(name: string): number | undefined {
    if (this.packNumbers.size !== this.packs.length) {
      this.packNumbers.clear();
      for (const [i, p] of this.packs.entries()) this.packNumbers.set(packName(p.path), i);
    }
    const n = this.packNumbers.get(name);
    return n === undefined || this.packs[n]!.open ? undefined : n;
  }

  /**
   * Tells whether a pack's record is listed bad: in the pack's `<name>.bad` file when the
   * store loaded the pack, or found bad by this store since. A garbage collection leaves such
   * a record out once no read gets the chunk.
   * @param pack - the pack's name (without `.pack`).
   * @param digest - the record's digest, as its index entry lists it.
   * @param offset - the record's offset in the pack, as its index entry lists it.
   */
  isListedBad(pack: string, digest: Uint8Array, offset: number): boolean {
    return this.listedBad.get(pack)?.has(badRecordKey(digest, offset)) ?? false;
  }

  /**
   * Tells whether this store proved a pack's record bad itself (read it whole, twice, and found
   * it not the chunk's: see {@link PackStore.get}), as opposed to finding it listed only, which
   * a damaged or hostile list, or a read that failed without proof, leaves it at.
   * @param pack - the pack's name (without `.pack`).
   * @param digest - the record's digest, as its index entry lists it.
   * @param offset - the record's offset in the pack, as its index entry lists it.
   */
  isProvenBad(pack: string, digest: Uint8Array, offset: number): boolean {
    return this.listedBad.get(pack)?.get(badRecordKey(digest, offset)) === true;
  }

  /**
   * How many records of a pack are listed bad (see {@link isListedBad}).
   * @param pack - the pack's name (without `.pack`).
   */
  listedBadCount(pack: string): number {
    return this.listedBad.get(pack)?.size ?? 0;
  }

  /** Whether the record of `pack` at index entry `entry` is listed bad. */
  private isListed(pack: number, entry: PackEntry): boolean {
    if (this.listedBad.size === 0) return false;
    return this.isListedBad(packName(this.packs[pack]!.path), entry.digest, entry.offset);
  }

  /**
   * Reads a pack's list of bad records (see `bad-records.ts`) from where the store last left
   * off, taking the lines not taken yet that name a record of the pack (its index lists that
   * digest at that offset), while the store has taken fewer than {@link MAX_LISTED}. Never
   * fails: a list is a hint, and a line that cannot be checked (an index read fails) is not
   * taken.
   */
  private async readList(packNo: number, name: string): Promise<void> {
    const path = join(this.root, PACKS_DIR, `${name}${BAD_SUFFIX}`);
    const from = this.listsRead.get(name);
    const { records, place } = await readBadRecords(path, this.packs[packNo]!.size, from);
    if (place) this.listsRead.set(name, place);
    else this.listsRead.delete(name);
    for (const { digest, offset } of records) {
      if (this.listedLoaded >= MAX_LISTED) return;
      const key = badRecordKey(digest, offset);
      if (this.listedBad.get(name)?.has(key)) continue;
      if (!(await this.namesRecord(packNo, digest, offset).catch(() => false))) continue;
      // Looked up meanwhile: concurrent reads of one list take a line once, and of several
      // lists, no more than the limit.
      const listed = this.listedBad.get(name) ?? new Map<string, boolean>();
      if (listed.has(key)) continue;
      if (this.listedLoaded >= MAX_LISTED) return;
      listed.set(key, false);
      this.listedBad.set(name, listed);
      this.listedLoaded++;
    }
  }

  /**
   * Whether a sealed pack's index lists a record of `digest` at `offset` (a look in its filter
   * first: a line naming a digest the pack lacks, as most garbage does, costs no read).
   */
  private async namesRecord(packNo: number, digest: Uint8Array, offset: number): Promise<boolean> {
    const pack = this.packs[packNo]!;
    const filter = pack.filter;
    if (!filter) {
      for (const id of this.table.candidates(digest)) {
        if (this.table.pack(id) !== packNo) continue;
        const copy = await this.confirm(id, digest);
        if (copy && !('bad' in copy) && copy.entry.offset === offset) return true;
      }
      return false;
    }
    const probe = this.filterKeys.probe(digest);
    if (!filter.mayHold(probe)) return false;
    const last = filter.lastBlock(probe);
    for (let b = filter.firstBlock(probe); b <= last; b++) {
      const bytes =
        this.keptBlock(packNo, b) ??
        (await this.readIndexBlock(packNo, b * FENCE_ENTRIES, FENCE_ENTRIES));
      const k = searchEntries(bytes, INDEX_ENTRY_BYTES, digest);
      if (k < 0) continue;
      const at = k * INDEX_ENTRY_BYTES;
      const position = INDEX_HEADER_BYTES + (b * FENCE_ENTRIES + k) * INDEX_ENTRY_BYTES;
      try {
        const entry = bytes.slice(at, at + INDEX_ENTRY_BYTES);
        return (
          decodeIndexEntry(entry, pack.size, indexPathOf(pack.path), position).offset === offset
        );
      } catch (err) {
        if (err instanceof PackFormatError) return false;
        throw err;
      }
    }
    return false;
  }

  /**
   * Starts a look for lists of bad records written or grown since the store read them, once
   * {@link LIST_CHECK_MS} have passed since the last started (or the clock went back), unless
   * one runs or the store is closed. Nothing waits for it: what it finds counts from when it
   * ends.
   */
  private lookForLists(): void {
    if (this.looking || this.closed) return;
    const now = Date.now();
    if (now - this.listsCheckedAt < LIST_CHECK_MS && now >= this.listsCheckedAt) return;
    this.listsCheckedAt = now;
    // A look that fails finds nothing this time; the next one is started as ever.
    this.looking = this.rereadLists()
      .catch(() => {})
      .finally(() => {
        this.looking = undefined;
      });
  }

  /**
   * Reads the lines appended to the lists of bad records of the loaded sealed packs since
   * they were read (a list whose size changed), and the lists that appeared; a list read to
   * its limit ({@link MAX_BAD_BYTES}) is not appended to, and not looked at. Up to
   * {@link LIST_STATS} lists are looked at at once. Stops once the store is closed.
   */
  private async rereadLists(): Promise<void> {
    if (this.listedLoaded >= MAX_LISTED) return;
    const dir = join(this.root, PACKS_DIR);
    const lists = (await readdir(dir).catch(() => [])).filter((n) => n.endsWith(BAD_SUFFIX));
    if (lists.length === 0) return;
    const due: { name: string; packNo: number }[] = [];
    for (const n of lists) {
      const name = n.slice(0, -BAD_SUFFIX.length);
      const packNo = this.publishedPack(name);
      if (packNo === undefined || (this.listsRead.get(name)?.size ?? 0) >= MAX_BAD_BYTES) continue;
      due.push({ name, packNo });
    }
    let next = 0;
    const lookAtLists = async () => {
      while (next < due.length && !this.closed) {
        const { name, packNo } = due[next++]!;
        const path = join(dir, `${name}${BAD_SUFFIX}`);
        const st = await stat(path, { bigint: true }).catch(() => undefined);
        if (this.closed || !st?.isFile()) continue;
        const read = this.listsRead.get(name);
        if (read ? read.ino === st.ino && read.size === Number(st.size) : st.size === 0n) continue;
        await this.readList(packNo, name);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_STATS, due.length) }, lookAtLists));
  }

  /**
   * Reads and checks a copy of `digest` (see {@link readChunk}): the chunk, or what is wrong.
   * A copy in a sealed pack found bad with proof is read again, into a buffer of its own and
   * decoded on this thread, and listed bad (see {@link listBad}) only if that read proves it
   * bad too: what the first read got may not be what the file holds (the caller's `into`
   * changed under it, say), and a good copy listed bad would be stored again for nothing.
   */
  private async readCopy(
    pack: number,
    entry: PackEntry,
    digest: string,
    into: Uint8Array | undefined,
  ): Promise<Uint8Array | string> {
    const got = await this.readChunk(pack, entry, digest, into);
    if (!('bad' in got)) return got;
    if (!got.proven || this.packs[pack]!.open) return got.bad;
    const again = await this.readChunk(pack, entry, digest, undefined, PROOF_CODEC, true);
    if (!('bad' in again)) return again;
    if (again.proven) await this.listBad(pack, entry);
    return again.bad;
  }

  /**
   * Lists a record of a sealed pack this store proved bad: in memory at once (as proven here,
   * see {@link isProvenBad}), and appended to the pack's `<name>.bad` file unless listed there
   * already, as far as it can be (a store in a directory it cannot write, or a
   * list grown to its limit, lists it in memory only: other processes then find the record
   * bad when they read it, as before lists existed). So does a store opened with `markBad`
   * false.
   */
  private async listBad(pack: number, entry: PackEntry): Promise<void> {
    const name = packName(this.packs[pack]!.path);
    const key = badRecordKey(entry.digest, entry.offset);
    const listed = this.listedBad.get(name) ?? new Map<string, boolean>();
    const before = listed.has(key);
    listed.set(key, true);
    this.listedBad.set(name, listed);
    if (before) return;
    if (this.options.markBad === false) return;
    const path = join(this.root, PACKS_DIR, `${name}${BAD_SUFFIX}`);
    await appendBadRecord(path, key, this.options.fsync === true).catch(() => {});
  }

  /**
   * Reads and checks the record of `pack` that index entry `entry` lists as `digest`: the chunk,
   * or what is wrong (see {@link BadRecord}). With `now`, from the file, not from bytes read
   * ahead (see {@link read}).
   */
  private async readChunk(
    pack: number,
    { offset, stored }: PackEntry,
    digest: string,
    into: Uint8Array | undefined,
    codec: ChunkCodec = this.codec || READ_CODEC,
    now = false,
  ): Promise<Uint8Array | BadRecord> {
    const file = this.packs[pack]!.path;
    // With `into` large enough, the stored bytes go straight into it (the header apart), and
    // a coded chunk is decoded from there into it.
    const body = into && into.length >= stored ? into.subarray(0, stored) : undefined;
    let bytes: Uint8Array;
    try {
      bytes = await this.read(pack, offset, RECORD_HEADER_BYTES + stored, body, now);
    } catch (err) {
      // A pack that ends early may be changing as it is read: no proof of a bad record.
      if (err instanceof PackFormatError) return { bad: err.message, proven: false };
      throw err;
    }
    try {
      const header = decodeRecordHeader(bytes, file, offset);
      if (formatDigest(header.digest) !== digest || header.stored !== stored) {
        return { bad: `the record at ${offset} in ${file} is of another chunk`, proven: true };
      }
      const chunk: EncodedChunk = {
        coding: header.coding,
        bytes: body ?? bytes.subarray(RECORD_HEADER_BYTES),
      };
      const out =
        chunk.coding === 'identity' ? chunk.bytes : await codec.decode(chunk, header.raw, into);
      const actual = `sha256:${createHash('sha256').update(out).digest('hex')}`;
      if (out.length === header.raw && actual === digest) return out;
      return {
        bad: `${file} at ${offset} holds ${out.length} bytes with digest ${actual}`,
        proven: true,
      };
    } catch (err) {
      if (err instanceof PackFormatError) return { bad: err.message, proven: true };
      if (err instanceof CompressionError) {
        const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
        const proven = code === undefined || DATA_ERRORS.has(code);
        return { bad: `${file} at ${offset}: ${err.message}`, proven };
      }
      throw err;
    }
  }

  /**
   * Reads `length` bytes of a pack at `offset` (fewer bytes than that are a short pack). With
   * `body`, the last `body.length` of them go into it (one vectored read) and the returned
   * buffer holds the rest. Small records of a published pack read in order by a blocking store
   * come from a window read ahead (see `read-ahead.ts`), unless `now` asks for the file as it is.
   */
  private async read(
    pack: number,
    offset: number,
    length: number,
    body?: Uint8Array,
    now = false,
  ): Promise<Uint8Array> {
    const file = this.packs[pack]!.path;
    // A get that began before close must not open a file nothing will close.
    if (this.closed) throw new StoreError(`store ${this.root} is closed`);
    let h = this.handles.get(pack);
    if (!h) {
      const writer = this.packs[pack]!.open?.handle;
      h = { fh: writer ?? openRegularFile(file, 'pack').then(({ fh }) => fh), users: 0 };
      this.handles.set(pack, h);
    }
    // Counted as in use before any trimming, so that the handle just opened is not closed.
    h.users++;
    this.trimHandles();
    let fh: FileHandle;
    try {
      fh = await h.fh;
    } catch (err) {
      // A failed open (too many open files, say) is not kept: the next read tries again.
      if (--h.users === 0) h.idle?.();
      if (this.handles.get(pack) === h && !this.packs[pack]!.open) this.handles.delete(pack);
      if (err instanceof PackFormatError) throw err;
      throw new StoreError(`opening ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (this.options.blocking) await this.turn();
      const out = Buffer.allocUnsafe(length - (body?.length ?? 0));
      // Not from an open pack: it grows, and batches that end out of order leave holes.
      const ahead =
        this.options.blocking && !now && !this.packs[pack]!.open
          ? this.readAhead.read(fh, fh.fd, offset, length)
          : undefined;
      if (ahead) {
        out.set(ahead.subarray(0, out.length));
        body?.set(ahead.subarray(out.length));
        return out;
      }
      let at = 0;
      while (at < length) {
        // What is still to read, as one or two buffers.
        const parts =
          at < out.length
            ? [out.subarray(at), ...(body ? [body] : [])]
            : [body!.subarray(at - out.length)];
        const bytesRead = this.options.blocking
          ? readvSync(fh.fd, parts, offset + at)
          : (await fh.readv(parts, offset + at)).bytesRead;
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      if (at < length) {
        throw new PackFormatError(
          file,
          offset + at,
          `pack ends inside a chunk record of ${length} bytes`,
        );
      }
      return out;
    } catch (err) {
      if (err instanceof PackFormatError) throw err;
      throw new StoreError(`reading ${file} at ${offset}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      if (--h.users === 0) h.idle?.();
    }
  }

  /** Retires a read handle (see {@link retire}), which `close` then waits for. */
  private retire(h: Handle): void {
    const closing = retire(h);
    this.retiring.add(closing);
    void closing.then(() => this.retiring.delete(closing));
  }

  /** Closes idle read handles of sealed packs beyond the limit, oldest first. */
  private trimHandles(): void {
    for (const [pack, h] of this.handles) {
      if (this.handles.size <= this.openFiles) return;
      if (h.users > 0 || this.packs[pack]!.open) continue;
      this.handles.delete(pack);
      this.retire(h);
    }
  }

  async put(digest: string, bytes: Uint8Array, options?: PutOptions): Promise<boolean> {
    const raw = this.digestOf(digest);
    if (this.closed) throw new StoreError(`store ${this.root} is closed`);
    checkChunkSize(digest, bytes.length);
    this.lookForLists();
    /** Records found to be of other chunks (or unreadable). */
    const other = new Set<number>();
    // Most chunks have no record: no wait (and no promise) for those.
    const first = this.unconfirmed(raw, other);
    if (first.length > 0 && (await this.holdsAny(raw, first, other))) return false;
    const probe = this.filterKeys.probe(raw);
    /** Filtered packs looked in so far: packs filtered later are pushed after them. */
    let looked = this.filtered.length;
    // No wait when no filter lets the digest through, as for most chunks.
    const held = this.holdsFiltered(raw, probe, 0);
    if (held && (await held)) return false;
    // Compressed into the chunk's own memory when the caller is done with it: no buffer made
    // (and collected) per chunk.
    const encoded: EncodedChunk = this.codec
      ? await this.codec.encode(bytes, options?.scratch ? bytes : undefined)
      : { coding: 'identity', bytes };
    // Another put of this chunk may have run while this one was encoding, and its pack may
    // have been published (its records then move from the table to a filter). The look that
    // finds no copy and the reservation below run with no await between them.
    for (;;) {
      const ids = this.unconfirmed(raw, other);
      if (ids.length > 0) {
        if (await this.holdsAny(raw, ids, other)) return false;
        continue;
      }
      if (looked === this.filtered.length) break;
      const from = looked;
      looked = this.filtered.length;
      const since = this.holdsFiltered(raw, probe, from);
      if (since && (await since)) return false;
    }
    if (this.closed) throw new StoreError(`store ${this.root} is closed`);
    // From here to the write's start nothing awaits: the record's place is reserved at once.
    const packNo = this.currentPack();
    const pack = this.packs[packNo]!;
    const open = pack.open!;
    const entry: PackEntry = {
      digest: raw,
      offset: pack.size,
      coding: encoded.coding,
      stored: encoded.bytes.length,
      raw: bytes.length,
    };
    pack.size += RECORD_HEADER_BYTES + entry.stored;
    const slot = open.entries.add(entry);
    const id = this.table.add(raw, packNo, slot);
    const write = this.batchWrite(open, entry.offset, encodeRecordHeader(entry), encoded.bytes);
    this.pending.set(id, write);
    if (pack.size >= this.packBytes || open.entries.size >= OPEN_PACK_ENTRIES) this.seal(packNo);
    try {
      await write;
      return true;
    } catch (err) {
      this.table.remove(id);
      open.entries.remove(slot);
      throw new StoreError(`writing chunk ${digest} to ${pack.path}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      this.pending.delete(id);
    }
  }

  /**
   * Adds a record (its place in the pack already reserved) to the batch its pack is gathering,
   * starting a batch if there is none; returns the batch's write. Records are reserved one
   * after another, so a batch's records are contiguous in the pack.
   */
  private batchWrite(
    open: NonNullable<Pack['open']>,
    offset: number,
    header: Uint8Array,
    bytes: Uint8Array,
  ): Promise<void> {
    let batch = open.batch;
    if (!batch) {
      let start!: () => void;
      const due = new Promise<void>((resolve) => {
        start = resolve;
      });
      const parts: Uint8Array[] = [];
      const blocking = this.options.blocking === true;
      const written = Promise.all([open.handle, due]).then(([fh]) => {
        // From here on, records go to the next batch.
        if (open.batch === b) open.batch = undefined;
        return writeFully(fh, parts, offset, blocking);
      });
      const b: Batch = { parts, bytes: 0, written, start };
      open.writes.add(written);
      const done = () => {
        open.writes.delete(written);
        // A pack file that could not be opened fails its batch before the write callback
        // runs: let go of the batch (and the chunk buffers it holds) here too.
        if (open.batch === b) open.batch = undefined;
      };
      written.then(done, done);
      setImmediate(start);
      open.batch = batch = b;
    }
    batch.parts.push(header, bytes);
    batch.bytes += header.length + bytes.length;
    if (batch.bytes >= BATCH_BYTES || batch.parts.length >= BATCH_PARTS) {
      open.batch = undefined;
      batch.start();
    }
    return batch.written;
  }

  /**
   * Confirms records `ids` (candidates for `raw`, from {@link unconfirmed}) in turn, adding each
   * that does not hold it (or is listed bad) to `other`: true once one does.
   */
  private async holdsAny(raw: Uint8Array, ids: number[], other: Set<number>): Promise<boolean> {
    for (const id of ids) {
      const copy = await this.confirm(id, raw);
      if (copy && !('bad' in copy) && !this.isListed(copy.pack, copy.entry)) return true;
      other.add(id);
    }
    return false;
  }

  /** The pack new records go to, started if there is none. */
  private currentPack(): number {
    if (this.current !== undefined) return this.current;
    if (!this.sweeping) {
      // Once per store, when it first writes: readers never delete anything.
      const after = this.options.removeStaleAfterMs ?? STALE_AFTER_MS;
      this.sweeping =
        after === false
          ? Promise.resolve()
          : removeStaleTemporaries(join(this.root, PACKS_DIR), after).catch(() => {});
    }
    const name = `${Date.now().toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
    const path = join(this.root, PACKS_DIR, `.${name}.pack.tmp`);
    // Removed, should the process end on a signal before it is renamed (see the CLI).
    noteTemporaryFile(path);
    const handle = open(path, 'wx+').then(async (fh) => {
      try {
        await writeFully(fh, [PACK_MAGIC], 0);
        return fh;
      } catch (err) {
        await fh.close().catch(() => {});
        await unlink(path).catch(() => {});
        forgetTemporaryFile(path);
        throw err;
      }
    });
    const packNo =
      this.packs.push({
        path,
        size: PACK_MAGIC.length,
        open: { entries: new PackIndexBuilder(), writes: new Set(), handle },
      }) - 1;
    // A pack that could not be created (too many open files, a full disk) fails the puts that
    // chose it; the next put starts another.
    handle.catch(() => {
      if (this.current === packNo) this.current = undefined;
    });
    this.current = packNo;
    return packNo;
  }

  /** Stops appending to a pack and publishes it once its writes are done. */
  private seal(packNo: number): void {
    if (this.current === packNo) this.current = undefined;
    const job = this.publish(packNo).finally(() => this.publishing.delete(packNo));
    job.catch(() => {});
    this.publishing.set(packNo, job);
  }

  private async publish(packNo: number): Promise<void> {
    const pack = this.packs[packNo]!;
    const open = pack.open!;
    while (open.writes.size > 0) await Promise.allSettled([...open.writes]);
    const name = packName(pack.path);
    const tmp = join(this.root, PACKS_DIR, `.${name}.pack.tmp`);
    const final = join(this.root, PACKS_DIR, `${name}.pack`);
    try {
      // A pack that was never created holds nothing: every write to it failed.
      const fh = await open.handle.catch((err: unknown) => {
        if (open.entries.size === 0) return undefined;
        throw err;
      });
      if (!fh || open.entries.size === 0) {
        // Nothing landed in it (every write failed): drop it.
        await fh?.close();
        this.handles.delete(packNo);
        await unlink(pack.renamed ? final : tmp).catch(() => {});
        forgetTemporaryFile(tmp);
        pack.open = undefined;
        this.unpublished.delete(packNo);
        return;
      }
      // A failed write may have left the file short of the space reserved for it: the index
      // says how long the pack is, so make it exactly that (the gap is never referenced).
      if ((await fh.stat()).size !== pack.size) await fh.truncate(pack.size);
      if (this.options.fsync) await fh.sync();
      // The pack must not look abandoned to another writer's sweep between its rename (which
      // keeps its time) and its index, however long ago its last record was written.
      const now = new Date();
      await fh.utimes(now, now);
      if (!pack.renamed) {
        try {
          await rename(tmp, final);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.lose(packNo);
          throw err;
        }
        forgetTemporaryFile(tmp);
        pack.renamed = true;
        pack.path = final;
        this.packNumbers.clear();
      }
      // The pack's name must be on disk before an index that names it can be (a retry after
      // a failed sync syncs again).
      if (this.options.fsync && !pack.nameSynced) {
        await syncDir(join(this.root, PACKS_DIR));
        pack.nameSynced = true;
      }
      // The encoding sorts the entries (leaving out records whose write failed): until the
      // pack is filtered below, its records are found in the builder by digest.
      await writeAtomic(
        join(this.root, PACKS_DIR, `${name}.idx`),
        open.entries.encode(pack.size),
        this.options.fsync === true,
      );
      pack.indexed = true;
      this.loaded.add(name);
      if (this.options.fsync) await syncDir(join(this.root, PACKS_DIR));
      // The writer's handle serves reads from now on, like any other.
      if (!this.handles.has(packNo)) this.handles.set(packNo, { fh: open.handle, users: 0 });
      this.filterPublished(packNo, open.entries);
      pack.open = undefined;
      this.unpublished.delete(packNo);
      this.trimHandles();
    } catch (err) {
      // Its chunks stay known (their bytes are in the pack), and every later flush tries again:
      // no flush succeeds while a chunk some put reported stored is unpublished.
      if (pack.open) this.unpublished.add(packNo);
      throw new StoreError(`publishing pack ${final}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Moves the records of a pack just published from the table to a filter, in one turn (a put
   * that found no record in the table then looks in the filters added since it last did).
   * Should the builder have listed a digest twice (which `put` does not do), the index is not
   * strictly sorted and the records stay in the table, at their entries in the index.
   */
  private filterPublished(packNo: number, entries: PackIndexBuilder): void {
    const filter = this.filters.create(entries.size, this.filterKeys);
    let sorted = true;
    entries.forEachDigest((digest) => {
      sorted &&= filter.add(digest);
    });
    let entry = 0;
    entries.forEachDigest((digest) => {
      for (const id of this.table.candidates(digest)) {
        if (this.table.pack(id) !== packNo) continue;
        if (sorted) this.table.remove(id);
        else this.table.setEntry(id, entry);
      }
      entry++;
    });
    if (!sorted) return;
    this.packs[packNo]!.filter = filter;
    filter.position = this.filtered.push(packNo) - 1;
    this.filteredEntries += entries.size;
  }

  /**
   * Gives up a pack whose file is gone (another writer's sweep took it after this one had not
   * written to it for a day): its chunks are no longer held, so a later put stores them again,
   * and only the flush that found out fails.
   */
  private lose(packNo: number): void {
    const open = this.packs[packNo]!.open!;
    open.entries.forEachDigest((digest) => {
      for (const id of this.table.candidates(digest)) {
        if (this.table.pack(id) === packNo) this.table.remove(id);
      }
    });
    // A read may be using the handle (it serves reads while the pack is open).
    const h = this.handles.get(packNo);
    if (h) this.retire(h);
    else open.handle.then((fh) => fh.close()).catch(() => {});
    this.handles.delete(packNo);
    this.packs[packNo]!.open = undefined;
    this.unpublished.delete(packNo);
  }

  /**
   * Publishes every chunk stored so far: seals the pack being written and writes its index.
   * Pipelines call it before they report success (convert, apply, unbundle), so an index is
   * never published before the chunks it names.
   * @throws {@link StoreError} when a pack cannot be published.
   */
  async flush(): Promise<void> {
    if (this.current !== undefined) this.seal(this.current);
    // Packs whose publication failed before are tried again, unless a try is under way.
    const retrying = new Set(this.publishing.keys());
    for (const packNo of this.unpublished) if (!retrying.has(packNo)) this.seal(packNo);
    const results = await Promise.allSettled([...this.publishing.values()]);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** Flushes, then closes every file. The store cannot be written afterwards. */
  async close(): Promise<void> {
    // From here on `put` refuses new chunks: one that finished encoding during the flush below
    // would otherwise start a pack that nothing publishes.
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.sweeping;
      // A look at lists under way reads index files: it ends before their handles are closed.
      await this.looking;
      // Reads under way keep their handles until they end. Handles of packs that failed to
      // publish may not be in `handles`.
      const held = [...this.handles.values()];
      const wrapped = new Set(held.map((h) => h.fh));
      const closing = [...held.map(retire), ...[...this.indexHandles.values()].map(retire)];
      closing.push(...this.retiring);
      this.indexHandles.clear();
      for (const p of this.packs) {
        if (p.open && !wrapped.has(p.open.handle))
          closing.push(p.open.handle.then((f) => f.close()));
      }
      this.handles.clear();
      this.readAhead.clear();
      await Promise.allSettled(closing);
      // A pack whose index could not be written (a full disk) is of use to no one: readers
      // find chunks only through indexes. Removed, so that a retry finds the space it took.
      const unindexed = this.packs.filter((p) => p.open && !p.indexed);
      await Promise.allSettled(unindexed.map((p) => unlink(p.path)));
      for (const p of unindexed) forgetTemporaryFile(p.path);
      await this.lock?.release();
    }
  }
}

/**
 * Opens a file of the store to read it, which is outside input: without blocking (a FIFO put
 * in its place must not hang the open), and only a regular file of at most `maxBytes`, checked
 * through the same descriptor.
 * @param what - what the file should be, for the error.
 * @throws {@link PackFormatError} for anything else; what the open throws.
 */
async function openRegularFile(
  path: string,
  what: string,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<{ fh: FileHandle; size: number }> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size <= maxBytes) return { fh, size: st.size };
    const found = st.isFile() ? `${st.size} bytes` : 'not a regular file';
    throw new PackFormatError(path, 0, `not a ${what} (${found})`);
  } catch (err) {
    await fh.close().catch(() => {});
    throw err;
  }
}

/** The path of a pack's index, from the pack's (final) path. */
function indexPathOf(packPath: string): string {
  return `${packPath.slice(0, -'.pack'.length)}.idx`;
}

/** Writes a small file through a temporary name and a rename. */
async function writeAtomic(path: string, bytes: Uint8Array, sync: boolean): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx');
  try {
    try {
      await fh.writeFile(bytes);
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Largest pack index file: a header, the most entries, the checksum. */
const MAX_INDEX_FILE = INDEX_HEADER_BYTES + MAX_PACK_ENTRIES * INDEX_ENTRY_BYTES + 4;

/** Opens a pack index file (see {@link openRegularFile}); other failures are a StoreError. */
async function openIndexFile(path: string): Promise<{ fh: FileHandle; size: number }> {
  try {
    return await openRegularFile(path, 'pack index', MAX_INDEX_FILE);
  } catch (err) {
    if (err instanceof PackFormatError) throw err;
    throw new StoreError(`reading pack index ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads `into.length` bytes of an index file at `position`: all of them, or fewer only at the
 * file's end (a file that shrank since it was measured is then found cut short). With
 * `blocking`, on the calling thread: opening a store of 1,024 packs waited 1.8 s of 4.6 on
 * the thread pool's reads.
 */
async function readIndexAt(
  fh: FileHandle,
  into: Uint8Array,
  position: number,
  path: string,
  blocking: boolean,
): Promise<Uint8Array> {
  let at = 0;
  try {
    while (at < into.length) {
      const bytesRead = blocking
        ? readSync(fh.fd, into, at, into.length - at, position + at)
        : (await fh.read(into, at, into.length - at, position + at)).bytesRead;
      if (bytesRead === 0) break;
      at += bytesRead;
    }
  } catch (err) {
    throw new StoreError(`reading pack index ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (at < into.length && position > 0) {
    throw new PackFormatError(
      path,
      position + at,
      'pack index cut short (it shrank as it was read)',
    );
  }
  return into.subarray(0, at);
}

/**
 * Removes what crashed writers left in a packs directory, once nothing has written to it for
 * `afterMs`: temporary files, and packs whose index was never written (a crash between the
 * pack's rename and its index; a live writer retrying that index touches its pack first).
 * Published packs and indexes, and files of any other name, are never touched.
 */
async function removeStaleTemporaries(dir: string, afterMs: number): Promise<void> {
  const now = Date.now();
  const names = await readdir(dir);
  const indexed = new Set(names.filter((n) => n.endsWith('.idx')).map((n) => n.slice(0, -4)));
  for (const name of names) {
    const orphan =
      name.endsWith('.pack') &&
      PACK_NAME_RE.test(name.slice(0, -5)) &&
      !indexed.has(name.slice(0, -5));
    if (!orphan && !TEMPORARY_RE.test(name)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => undefined);
    if (!st?.isFile() || now - st.mtimeMs <= afterMs) continue;
    // The index may have appeared since the listing: a published pack is never removed.
    if (orphan && (await stat(`${path.slice(0, -5)}.idx`).catch(() => undefined))) continue;
    await unlink(path).catch(() => {});
  }
}

/** The name of a pack from its path (temporary or final). */
function packName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.startsWith('.') ? base.slice(1, -'.pack.tmp'.length) : base.slice(0, -'.pack'.length);
}

/**
 * Writes all of `parts` at `position`, on the thread pool or, `blocking`, on this thread: a
 * write may be short (a full disk), and is resumed.
 */
async function writeFully(
  fh: FileHandle,
  parts: Uint8Array[],
  position: number,
  blocking = false,
): Promise<void> {
  const total = parts.reduce((n, p) => n + p.length, 0);
  let done = blocking
    ? writevSync(fh.fd, parts, position)
    : (await fh.writev(parts, position)).bytesWritten;
  for (const p of parts) {
    if (done >= p.length) {
      done -= p.length;
      position += p.length;
      continue;
    }
    for (let at = done; at < p.length; ) {
      const bytesWritten = blocking
        ? writeSync(fh.fd, p, at, p.length - at, position + at)
        : (await fh.write(p, at, p.length - at, position + at)).bytesWritten;
      if (bytesWritten <= 0) throw new Error(`write made no progress (${total} bytes to write)`);
      at += bytesWritten;
    }
    position += p.length;
    done = 0;
  }
}
