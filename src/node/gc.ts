/**
 * `collectGarbage`: removes from a store directory the chunks no given index refers to.
 *
 * Under the store's exclusive lock (`store-lock.ts`: no store may be open meanwhile), it
 * **marks** every chunk the indexes refer to (their index chunks, read and verified, and their
 * data chunks) in a {@link MarkSet}, then **sweeps**:
 *
 * - a pack store: a pack none of whose records is marked is removed. A pack is rewritten when
 *   its unmarked records, and its marked ones a newer pack may hold too (copies two writers
 *   stored at once), take at least `maxUnused` of its bytes; so are packs under
 *   `smallPackBytes` when there are two or more (fewer, larger packs are quicker to open and
 *   to look up in). Each marked chunk of theirs is read (verified against its digest) and
 *   stored in new packs, unless a pack that stays (or a new one) holds it already and that
 *   copy reads back. Only once the new packs are published are the old ones removed (index
 *   first, so a crash leaves at worst a copy too many, or a pack without an index that
 *   writers remove a day later). A pack with a record listed bad (`bad-records.ts`) is
 *   rewritten whatever its unused share, and a record the collection's own reads prove bad
 *   is left out once no copy of its chunk reads back; a pack whose chunk fails to read
 *   without proof (listed bad or not: it may be the only good copy) is left as it was
 *   (`damaged`);
 * - a file-per-chunk store: each unmarked chunk file is removed.
 *
 * An index that cannot be read whole (a missing or corrupt index chunk) fails the collection
 * before anything is removed: the chunks of the rest of it could not be marked.
 *
 * A dry run marks and counts the same way under a shared lock (or none, where it cannot write
 * `locks/`), and removes and writes nothing.
 *
 * @module
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { streamOfBytes } from '../bytes-stream.js';
import type { ChunkCodec, ChunkCoding, EncodedChunk } from '../compress/chunk-codec.js';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  PackFormatError,
  StoreError,
  UsageError,
} from '../errors.js';
import type { IndexDecoderOptions } from '../format/decoder.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { intOption } from '../options.js';
import { indexChunks } from '../pipeline/open-index.js';
import { MarkSet } from '../store/mark-set.js';
import { RECORD_HEADER_BYTES } from '../store/pack-format.js';
import { holdsIntact } from '../store/read-chunk.js';
import { BAD_SUFFIX } from './bad-records.js';
import { nodeChunkCodec } from './chunk-codec.js';
import { FsStore } from './fs-store.js';
import { nodeHashProvider } from './hash.js';
import { openStore } from './open-store.js';
import {
  OPEN_PACK_ENTRIES,
  PACK_NAME_RE,
  PACKS_DIR,
  PackStore,
  TEMPORARY_RE,
} from './pack-store.js';
import { indexBlocks, looseChunkCount, looseChunks } from './store-files.js';
import { lockExclusive, lockShared } from './store-lock.js';

/** Options of {@link collectGarbage}. */
export interface GarbageOptions {
  /**
   * Only report what would be removed and rewritten, removing nothing (stale locks included).
   * A dry run holds a shared lock, as an open store does: it waits for (or gives way to) a
   * collection, not for open stores, which may change the store while it counts. Where it
   * cannot write `locks/` (a store read-only to this user) it goes on without a lock
   * ({@link GarbageReport.locked}). @default false
   */
  dryRun?: boolean;
  /**
   * A pack is rewritten once this share of its bytes (0 to 1) is unmarked records: 0 rewrites
   * every pack with any, 1 only removes packs with no marked record. @default 0.1
   */
  maxUnused?: number;
  /**
   * Packs under this many bytes (and under 8,192 records, a quarter of what a writer puts in one)
   * are rewritten together when there are two or more; 0 never. @default 64 MiB
   */
  smallPackBytes?: number;
  /** Size of the packs written (see `PackStoreOptions.packBytes`). @default 256 MiB */
  packBytes?: number;
  /**
   * How rewritten chunks are stored (see `PackStoreOptions.codec`). @default each as its old
   * record was (LZ4 as LZ4, deflate as deflate at level 1, uncompressed as it is)
   */
  codec?: ChunkCodec | false;
  /** Flush new packs to disk before the old ones are removed. @default false */
  fsync?: boolean;
  /** Hashing for index chunk verification. @default nodeHashProvider() */
  hash?: HashProvider;
  /** Limits of the indexes read. */
  index?: IndexDecoderOptions;
  /**
   * How long to keep trying, in milliseconds, while stores of the directory are open (then
   * {@link StoreLockedError}). @default 0
   */
  lockWaitMs?: number;
}

/** What {@link collectGarbage} found and did. */
export interface GarbageReport {
  /** The store's layout. */
  layout: 'pack' | 'loose';
  /** Nothing was removed or written. */
  dryRun: boolean;
  /**
   * The store was locked throughout: always, but for a dry run that could not write `locks/`,
   * which a collection (of a user who can) may then have changed under it.
   */
  locked: boolean;
  /** Indexes marked from. */
  indexes: number;
  /**
   * Distinct chunks they refer to (past 1,048,576, when the marks become a Bloom filter, a few
   * may be left out, taken by chance for ones counted already).
   */
  referenced: number;
  /**
   * Of those, chunks the store lacks (their layers cannot be rebuilt from it), including, in a
   * pack store, those whose only copy proved bad as the collection read it to copy it (left
   * out: converting their layers again stores them).
   */
  missing: number;
  /** Chunk records (pack store) or chunk files before, and those removed. */
  chunksBefore: number;
  chunksRemoved: number;
  /** Bytes of the store's files (packs and their indexes, or chunk files) before and after (a dry run estimates after). */
  bytesBefore: number;
  bytesAfter: number;
  /**
   * What crashed writers left, removed (or, in a dry run, found): temporary files, and packs
   * without an index. Under the collection's lock no writer is at work, so all of them are (a
   * dry run, which stores may run beside, counts the temporary files of live writers too).
   */
  leftovers: number;
  /** Pack store only: what became of the packs. */
  packs?: {
    before: number;
    removed: number;
    rewritten: number;
    /** New packs written with the chunks of rewritten ones kept. */
    written: number;
    /** Packs left as they were because a marked chunk of theirs could not be read back. */
    damaged: string[];
    /**
     * Chunks of the damaged packs copied into new packs before the damage was found, now held
     * twice. The records left are `chunksBefore - chunksRemoved + damagedCopies`.
     */
    damagedCopies: number;
  };
}

/**
 * The codec a rewrite stores chunks with when none is given: each chunk as its record was
 * coded (LZ4 as LZ4; deflate as deflate, at level 1 as the CLI writes it; uncompressed as it
 * is), so that a collection does not change a store's codec behind its back.
 */
class KeepCoding implements ChunkCodec {
  /** The coding of the record whose chunk is put next. */
  next: ChunkCoding = 'identity';
  private readonly lz4 = nodeChunkCodec({ algorithm: 'lz4', blocking: true });
  private readonly deflate = nodeChunkCodec({ algorithm: 'deflate', level: 1, blocking: true });

  encode(bytes: Uint8Array): Promise<EncodedChunk> {
    if (this.next === 'identity') return Promise.resolve({ coding: 'identity', bytes });
    return (this.next === 'lz4-block' ? this.lz4 : this.deflate).encode(bytes);
  }

  decode(chunk: EncodedChunk, maxSize?: number, into?: Uint8Array): Promise<Uint8Array> {
    return this.lz4.decode(chunk, maxSize, into);
  }
}

/** What the sweep learned of one pack. */
interface PackPlan {
  name: string;
  /** Bytes of the pack and its index. */
  bytes: number;
  records: number;
  live: number;
  liveBytes: number;
  deadBytes: number;
  /** Bytes of kept records whose chunk a newer pack may hold too (a copy too many). */
  twinBytes: number;
  /** Records listed bad (`<name>.bad`): the pack is rewritten without them. */
  listed: number;
}

/**
 * Removes the chunks of a store that no given index refers to (see the module's notes).
 * @param root - the store directory (either layout).
 * @param indexes - the indexes to keep, roots or flat, each read once; iterated only once the
 *   collection holds its lock (an async iterable may read them then, as `layoutRoots` does, so
 *   that what a store wrote before the lock is seen). Name every index still needed: the
 *   chunks only others refer to are gone after.
 * @param options - dry run, thresholds, how new packs are written.
 * @returns what was found and done.
 * @throws {@link StoreLockedError} while a store of the directory is open, or for a dry run
 * while a collection runs (nothing is touched); {@link ChunkNotFoundError},
 * {@link ChunkDigestError} or {@link RecordFormatError} when an index cannot be read whole
 * (nothing is removed); {@link PackFormatError} for a damaged pack index.
 */
export async function collectGarbage(
  root: string,
  indexes:
    | Iterable<Uint8Array | ReadableStream<Uint8Array>>
    | AsyncIterable<Uint8Array | ReadableStream<Uint8Array>>,
  options: GarbageOptions = {},
): Promise<GarbageReport> {
  const maxUnused = options.maxUnused ?? 0.1;
  if (!(typeof maxUnused === 'number' && maxUnused >= 0 && maxUnused <= 1)) {
    throw new UsageError(`maxUnused must be 0 to 1, got ${String(maxUnused)}`);
  }
  const small = intOption(options.smallPackBytes, 'smallPackBytes', 64 * 1024 * 1024, 0);
  // A directory that holds no store gets no lock directory either.
  const isDir = (p: string) =>
    stat(join(root, p)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  if (!(await isDir(PACKS_DIR)) && !(await isDir('sha256'))) {
    throw new StoreError(`${root} holds no layerdiff store`);
  }
  const dryRun = options.dryRun === true;
  const lock = dryRun
    ? await lockShared(root, options.lockWaitMs)
    : await lockExclusive(root, options.lockWaitMs);
  try {
    // A dry run writes nothing: a read that finds a chunk bad (its marking reads index
    // chunks) neither lists the record nor sets the file aside.
    const store = await openStore(root, {
      existing: true,
      blocking: true,
      lock: false,
      markBad: !dryRun,
    });
    try {
      const chunks = store instanceof PackStore ? store.chunks : await looseChunkCount(root);
      const mark = new MarkSet(chunks);
      const marked = await markAll(store, mark, indexes, options);
      // Keeping nothing would empty the store: surely not what was meant.
      if (marked.indexes === 0)
        throw new UsageError('collectGarbage needs at least one index to keep');
      const report = { dryRun, locked: lock.path !== undefined, indexes: marked.indexes };
      if (store instanceof FsStore) {
        return { ...report, ...marked.counts, ...(await sweepLoose(root, mark, report.dryRun)) };
      }
      const { lost, ...swept } = await sweepPacks(root, store, mark, {
        ...options,
        maxUnused,
        small,
      });
      return {
        ...report,
        referenced: marked.counts.referenced,
        missing: marked.counts.missing + lost,
        ...swept,
      };
    } finally {
      await store.close();
    }
  } finally {
    await lock.release();
  }
}

/** Marks the chunks of every index; counts the distinct ones and those the store lacks. */
async function markAll(
  store: PackStore | FsStore,
  mark: MarkSet,
  indexes:
    | Iterable<Uint8Array | ReadableStream<Uint8Array>>
    | AsyncIterable<Uint8Array | ReadableStream<Uint8Array>>,
  options: GarbageOptions,
): Promise<{ indexes: number; counts: { referenced: number; missing: number } }> {
  const hash = options.hash ?? nodeHashProvider();
  let n = 0;
  let referenced = 0;
  let missing = 0;
  for await (const index of indexes) {
    n++;
    const stream = index instanceof Uint8Array ? streamOfBytes(index) : index;
    for await (const { kind, ref } of indexChunks(stream, store, { hash, index: options.index })) {
      if (mark.add(ref.digest)) continue;
      referenced++;
      // An index chunk was read (and verified) to get here.
      // A copy the store only suspects (listed bad) counts if it reads back.
      if (
        kind === 'data' &&
        !(await store.has(formatDigest(ref.digest))) &&
        !(await holdsIntact(store, ref, hash))
      ) {
        missing++;
      }
    }
  }
  return { indexes: n, counts: { referenced, missing } };
}

/** Removes the unmarked chunk files of a file-per-chunk store. */
async function sweepLoose(
  root: string,
  mark: MarkSet,
  dryRun: boolean,
): Promise<Omit<GarbageReport, 'dryRun' | 'locked' | 'indexes' | 'referenced' | 'missing'>> {
  let removed = 0;
  let removedBytes = 0;
  const doomed: string[] = [];
  const leftovers: string[] = [];
  const { files, bytes } = await looseChunks(
    root,
    (path, digest, size) => {
      if (mark.has(digest)) return;
      removed++;
      removedBytes += size;
      doomed.push(path);
    },
    (path) => leftovers.push(path),
  );
  doomed.push(...leftovers);
  if (!dryRun) {
    for (const path of doomed) {
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') {
          throw new StoreError(`removing ${path}: ${err.message}`, { cause: err });
        }
      });
    }
  }
  return {
    layout: 'loose',
    chunksBefore: files,
    chunksRemoved: removed,
    bytesBefore: bytes,
    bytesAfter: bytes - removedBytes,
    leftovers: leftovers.length,
  };
}

/** Removes and rewrites packs (see the module's notes). */
async function sweepPacks(
  root: string,
  reader: PackStore,
  mark: MarkSet,
  options: GarbageOptions & { maxUnused: number; small: number },
): Promise<
  Omit<GarbageReport, 'dryRun' | 'locked' | 'indexes' | 'referenced' | 'missing'> & {
    /** Marked chunks whose every copy this sweep's reads proved bad, and left out. */
    lost: number;
  }
> {
  const dir = join(root, PACKS_DIR);
  const names = (await readdir(dir))
    .filter((n) => n.endsWith('.idx') && PACK_NAME_RE.test(n.slice(0, -4)))
    .map((n) => n.slice(0, -4))
    .sort();
  const leftovers = (await readdir(dir)).filter(
    (n) =>
      TEMPORARY_RE.test(n) ||
      (n.endsWith('.pack') && PACK_NAME_RE.test(n.slice(0, -5)) && !names.includes(n.slice(0, -5))),
  );
  const plans: PackPlan[] = [];
  // Kept chunks met so far, newest pack first: a kept record of a chunk met in a newer pack is
  // likely a copy too many (two writers stored it at once), which a rewrite leaves out. Past
  // its exact limit the set may take a chunk for met by chance: that only makes a rewrite
  // likelier.
  const met = new MarkSet(reader.chunks);
  for (const name of [...names].reverse()) {
    const plan: PackPlan = {
      name,
      bytes: 0,
      records: 0,
      live: 0,
      liveBytes: 0,
      deadBytes: 0,
      twinBytes: 0,
      listed: 0,
    };
    const idx = join(dir, `${name}.idx`);
    let packSize = 0;
    for (const block of indexBlocks(idx)) {
      packSize = block.packSize;
      for (const e of block.entries) {
        plan.records++;
        const bytes = RECORD_HEADER_BYTES + e.stored;
        // A kept record listed bad still counts as kept: the list may be wrong, and the rewrite
        // reads the chunk before it leaves the record out.
        if (reader.isListedBad(name, e.digest, e.offset)) plan.listed++;
        if (!mark.has(e.digest)) {
          plan.deadBytes += bytes;
          continue;
        }
        plan.live++;
        plan.liveBytes += bytes;
        if (met.add(e.digest)) plan.twinBytes += bytes;
      }
    }
    plan.bytes = packSize + (await stat(idx)).size;
    plans.push(plan);
  }
  plans.reverse();
  const removed = plans.filter((p) => p.live === 0);
  // Small: few bytes, and room for more records (a pack of tiny chunks that reached the
  // writer's record limit would come out of a rewrite as small as it went in).
  const isSmall = (p: PackPlan) => p.bytes < options.small && p.records < OPEN_PACK_ENTRIES / 4;
  const smallOnes = plans.filter((p) => p.live > 0 && isSmall(p));
  const rewritten = plans.filter(
    (p) =>
      p.live > 0 &&
      (p.listed > 0 ||
        (p.deadBytes + p.twinBytes > 0 &&
          p.deadBytes + p.twinBytes >= options.maxUnused * (p.liveBytes + p.deadBytes)) ||
        (smallOnes.length > 1 && isSmall(p))),
  );
  const bytesBefore = plans.reduce((n, p) => n + p.bytes, 0);
  const chunksBefore = plans.reduce((n, p) => n + p.records, 0);
  const damaged: string[] = [];
  let written = 0;
  if (options.dryRun) {
    // Copies too many are not counted: which are is known only once they are rewritten.
    const chunksRemoved =
      removed.reduce((n, p) => n + p.records, 0) +
      rewritten.reduce((n, p) => n + p.records - p.live, 0);
    const freed = [...removed, ...rewritten].reduce((n, p) => n + p.bytes, 0);
    const kept = rewritten.reduce((n, p) => n + p.liveBytes, 0);
    return {
      lost: 0,
      layout: 'pack',
      chunksBefore,
      chunksRemoved,
      bytesBefore,
      bytesAfter: bytesBefore - freed + kept,
      leftovers: leftovers.length,
      packs: {
        before: plans.length,
        removed: removed.length,
        rewritten: rewritten.length,
        written: 0,
        damaged,
        damagedCopies: 0,
      },
    };
  }
  const done: PackPlan[] = [...removed];
  // Records written into new packs: for the packs rewritten, and for those found damaged.
  let copies = 0;
  let damagedCopies = 0;
  let lost = 0;
  if (rewritten.length > 0) {
    const gone = new Set([...rewritten, ...removed].map((p) => p.name));
    // The writer knows the packs that stay (and those it writes), not those it rewrites: a
    // chunk a pack that stays holds is not written again.
    const keep = options.codec === undefined ? new KeepCoding() : undefined;
    const writer = await PackStore.open(root, {
      lock: false,
      loadPacks: (name) => !gone.has(name),
      blocking: true,
      codec: options.codec ?? keep!,
      ...(options.packBytes !== undefined ? { packBytes: options.packBytes } : {}),
      ...(options.fsync ? { fsync: true } : {}),
    });
    const before = new Set(await readdir(dir));
    try {
      for (const plan of rewritten) {
        let ok = true;
        let copied = 0;
        // A block of entries at a time: an index of an earlier build may list 2^22.
        for (const block of indexBlocks(join(dir, `${plan.name}.idx`))) {
          for (const e of block.entries) {
            if (!mark.has(e.digest)) continue;
            const digest = formatDigest(e.digest);
            // Listed before: the marking counted the chunk missing already (unless another
            // copy was not listed).
            const listed = reader.isListedBad(plan.name, e.digest, e.offset);
            let bytes: Uint8Array;
            try {
              bytes = await reader.get(digest);
            } catch (err) {
              if (!(err instanceof ChunkDigestError || err instanceof ChunkNotFoundError))
                throw err;
              // No copy reads back. This one, proven bad by this collection's reads (now, or
              // while it marked), goes with its pack: the next conversion stores the chunk
              // again, and the report counts it missing. A copy whose read failed without proof
              // (its pack ended early) may be the chunk's only good one, listed bad or not: it
              // keeps its pack as it is.
              if (!reader.isProvenBad(plan.name, e.digest, e.offset)) ok = false;
              else if (!listed) lost++;
              continue;
            }
            if (keep) keep.next = e.coding;
            if (await writer.put(digest, bytes)) {
              copied++;
              continue;
            }
            // Held already: by a pack that stays, or one just written. That copy must read
            // back before this one goes; a bad one is forgotten, and this one stored instead.
            try {
              await writer.get(digest);
            } catch (err) {
              if (!(err instanceof ChunkDigestError || err instanceof ChunkNotFoundError))
                throw err;
              if (await writer.put(digest, bytes)) copied++;
            }
          }
        }
        // A damaged pack stays as it was: the chunks of it copied are held twice.
        if (ok) {
          done.push(plan);
          copies += copied;
        } else {
          damaged.push(plan.name);
          damagedCopies += copied;
        }
      }
      await writer.flush();
    } finally {
      await writer.close();
    }
    written = (await readdir(dir)).filter((n) => n.endsWith('.idx') && !before.has(n)).length;
  }
  // The reader's handles go before the files do.
  await reader.close();
  for (const n of leftovers) await removeFile(join(dir, n));
  for (const plan of done) {
    // The index first: a pack without one is ignored, and writers remove it a day later.
    await removeFile(join(dir, `${plan.name}.idx`));
    await removeFile(join(dir, `${plan.name}.pack`));
  }
  // Lists of bad records go with their packs, and with packs gone before (a crash, a build that
  // did not know them). A pack that stays keeps its list only while it lists one of the pack's
  // records: one found bad by this collection in a pack it did not rewrite (the next one does),
  // or in a damaged pack. Any other list names nothing the store holds.
  const gone = new Set(done.map((p) => p.name));
  for (const n of await readdir(dir)) {
    const name = n.slice(0, -BAD_SUFFIX.length);
    if (!n.endsWith(BAD_SUFFIX) || !PACK_NAME_RE.test(name)) continue;
    if (!gone.has(name) && names.includes(name) && reader.listedBadCount(name) > 0) continue;
    // A list left behind misleads nobody (its pack is gone, or it names none of its records),
    // and the packs are already removed: a list that cannot be removed (a directory of that
    // name, say) fails nothing.
    await unlink(join(dir, n)).catch(() => {});
  }
  let bytesAfter = 0;
  for (const n of await readdir(dir)) {
    if (!/\.(pack|idx)$/.test(n) || !PACK_NAME_RE.test(n.replace(/\.(pack|idx)$/, ''))) continue;
    bytesAfter += (await stat(join(dir, n))).size;
  }
  return {
    lost,
    layout: 'pack',
    chunksBefore,
    // The records of the packs removed, but those copied from them into new packs.
    chunksRemoved: done.reduce((n, p) => n + p.records, 0) - copies,
    bytesBefore,
    bytesAfter,
    leftovers: leftovers.length,
    packs: {
      before: plans.length,
      removed: removed.length,
      rewritten: rewritten.length - damaged.length,
      written,
      damaged,
      damagedCopies,
    },
  };
}

async function removeFile(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') {
      throw new StoreError(`removing ${path}: ${err.message}`, { cause: err });
    }
  });
}
