/**
 * `verifyStore`: reads every chunk a store directory holds and checks each against its digest,
 * then checks that the indexes given can be rebuilt from it. A store finds a bad copy only when
 * a read meets it; this meets them all, as `git fsck`, `restic check --read-data` and `borg
 * check --verify-data` do for their stores.
 *
 * - A pack store: every record of every published pack is read whole and checked (listed-bad
 *   ones and other copies of a chunk too), one pack at a time, its index read in blocks. A pack
 *   that cannot be loaded (a malformed index; a pack missing, or of another size than its
 *   index says), which would refuse the store, is reported and left out. A record
 *   proven bad is listed in its pack's `.bad` file, as any read that proves one does: lookups
 *   then pass it by, the next `put` of its chunk stores it again, and `gc` leaves it out.
 * - A file-per-chunk store: every chunk file is read and checked; a bad one is set aside
 *   (`.corrupt`), as `get` does.
 * - Each index (root or flat): its index chunks are read (verified), and each data chunk it
 *   refers to must have a copy that reads back, or it is counted missing.
 *
 * It holds a shared lock, as an open store does, so no garbage collection runs meanwhile;
 * conversions may. Memory stays bounded: one index block or chunk at a time, and at most
 * {@link MAX_LISTED_PROBLEMS} problems kept for the report (all are counted).
 *
 * @module
 */
import { basename, join } from 'node:path';
import { streamOfBytes } from '../bytes-stream.js';
import {
  ChunkDigestError,
  ChunkNotFoundError,
  LayerdiffError,
  PackFormatError,
  StoreError,
} from '../errors.js';
import type { IndexDecoderOptions } from '../format/decoder.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { indexChunks } from '../pipeline/open-index.js';
import { MarkSet } from '../store/mark-set.js';
import { holdsIntact } from '../store/read-chunk.js';
import { chunkFileCoding, type FsStore } from './fs-store.js';
import { nodeHashProvider } from './hash.js';
import { openStore } from './open-store.js';
import { PACKS_DIR, PackStore } from './pack-store.js';
import { indexBlocks, looseChunks } from './store-files.js';

/** Chunks with a bad copy whose reading back an index's check remembers, at most. */
const READ_BACK_KEPT = 65_536;

/** Problems a report lists at most; past that they are only counted. */
export const MAX_LISTED_PROBLEMS = 1000;

/** Options of {@link verifyStore}. */
export interface VerifyOptions {
  /** Hashing for the index chunks read. @default nodeHashProvider() */
  hash?: HashProvider;
  /** Limits of the indexes read. */
  index?: IndexDecoderOptions;
  /** Called with each problem as it is found (those past the report's list too). */
  onProblem?: (problem: VerifyProblem) => void;
  /** How long to wait for a garbage collection of the store to end. @default 0 */
  lockWaitMs?: number;
}

/** Something {@link verifyStore} found wrong. */
export interface VerifyProblem {
  /**
   * `record`: a pack's record that does not hold the chunk its index lists; `pack-index`: a
   * pack that cannot be loaded, its index malformed or its pack missing or of another size
   * than the index says (it is then left out: the chunks only it holds count as missing); `file`: a chunk file that does not hold its chunk; `missing`: a
   * data chunk an index refers to that no copy in the store gives; `index`: an index that
   * cannot be read whole (one of its index chunks missing or bad, or its bytes malformed).
   */
  kind: 'record' | 'pack-index' | 'file' | 'missing' | 'index';
  /** The chunk, `sha256:<hex>` (absent for an index that is malformed). */
  digest?: string;
  /** The pack (its name) and the record's offset in it, for `record`. */
  pack?: string;
  offset?: number;
  /** Which index (0-based, in the order given), for `missing` and `index`. */
  index?: number;
  /** What is wrong. */
  problem: string;
  /**
   * For `record`: whether the record is proven bad (read twice, and not the chunk either
   * time) and so listed; a pack that ends early may still be being written.
   */
  proven?: boolean;
}

/** What {@link verifyStore} read and found. */
export interface VerifyReport {
  layout: 'pack' | 'loose';
  /** Sealed packs read (pack stores). */
  packs?: number;
  /** Records (pack stores) or chunk files read. */
  records: number;
  /** Their stored bytes (as kept: compressed where they are). */
  bytes: number;
  /** Records or chunk files that do not hold their chunk. */
  bad: number;
  /** Malformed pack indexes (pack stores): their packs are left out. */
  badPackIndexes?: number;
  /**
   * Indexes read, their references to data chunks (a chunk as often as files hold it), and
   * those references to chunks that no copy in the store gives.
   */
  indexes: number;
  referenced: number;
  missing: number;
  /** Indexes that cannot be read whole. */
  badIndexes: number;
  /** The first {@link MAX_LISTED_PROBLEMS} problems found, in the order found. */
  problems: VerifyProblem[];
  /** True when nothing was found wrong. */
  ok: boolean;
}

/**
 * Reads every chunk of a store directory and checks it, then the indexes given (see the
 * module's notes).
 * @param root - the store directory.
 * @param indexes - indexes (roots or flat) whose chunks must all be in the store; none to
 *   check the store alone.
 * @param options - hashing, index limits, and where problems go as they are found.
 * @returns what was read and found; problems are findings, not errors.
 * @throws {@link StoreError} when the directory holds no store, or a read fails for a reason
 * other than the bytes read (an I/O error).
 */
export async function verifyStore(
  root: string,
  indexes:
    | Iterable<Uint8Array | ReadableStream<Uint8Array>>
    | AsyncIterable<Uint8Array | ReadableStream<Uint8Array>> = [],
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const hash = options.hash ?? nodeHashProvider();
  const problems: VerifyProblem[] = [];
  const report: VerifyReport = {
    layout: 'pack',
    records: 0,
    bytes: 0,
    bad: 0,
    indexes: 0,
    referenced: 0,
    missing: 0,
    badIndexes: 0,
    problems,
    ok: true,
  };
  const found = (p: VerifyProblem) => {
    report.ok = false;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push(p);
    options.onProblem?.(p);
  };
  // A pack that cannot be loaded would refuse the whole store (as it does for every command):
  // reported, and left out.
  let malformed = 0;
  const store = await openStore(root, {
    existing: true,
    blocking: true,
    ...(options.lockWaitMs !== undefined ? { lockWaitMs: options.lockWaitMs } : {}),
    onMalformedPack: (pack, err) => {
      malformed++;
      found({ kind: 'pack-index', pack, problem: err.message });
    },
  });
  // Chunks with a copy found bad: a reference to one is read back, not taken from `has`
  // (a copy not proven bad stays unlisted). Past a million it is a Bloom filter, whose false
  // positives only cost a read.
  const suspect = new MarkSet(0);
  const bad = (p: VerifyProblem, raw: Uint8Array) => {
    suspect.add(raw);
    found(p);
  };
  try {
    if (store instanceof PackStore) await scanPacks(root, store, report, bad);
    else await scanFiles(root, store, report, bad);
    const check: IndexCheck = { store, suspect, hash, limits: options.index, report, found };
    for await (const index of indexes) await checkIndex(index, report.indexes++, check);
    // Packs published during the run are loaded (and reported) as lookups refresh.
    if (store instanceof PackStore) report.badPackIndexes = malformed;
  } finally {
    await store.close();
  }
  return report;
}

type Found = (p: VerifyProblem) => void;
type FoundBad = (p: VerifyProblem, raw: Uint8Array) => void;

/** What the check of each index works with. */
interface IndexCheck {
  store: PackStore | FsStore;
  /** Chunks with a copy found bad (see {@link verifyStore}). */
  suspect: MarkSet;
  hash: HashProvider;
  limits: IndexDecoderOptions | undefined;
  report: VerifyReport;
  found: Found;
}

/** Reads every record of every published pack. */
async function scanPacks(
  root: string,
  store: PackStore,
  report: VerifyReport,
  found: FoundBad,
): Promise<void> {
  const names = store.packNames();
  report.packs = names.length;
  for (const pack of names) {
    for (const { entries } of indexBlocks(join(root, PACKS_DIR, `${pack}.idx`))) {
      for (const e of entries) {
        report.records++;
        report.bytes += e.stored;
        const bad = await store.checkRecord(pack, e);
        if (!bad) continue;
        report.bad++;
        found(
          {
            kind: 'record',
            digest: formatDigest(e.digest),
            pack,
            offset: e.offset,
            problem: bad.problem,
            proven: bad.proven,
          },
          e.digest,
        );
      }
    }
  }
}

/**
 * Reads every chunk file of a file-per-chunk store: each file itself, in the coding its name
 * gives, where `get` would stop at the first good form of a chunk.
 */
async function scanFiles(
  root: string,
  store: FsStore,
  report: VerifyReport,
  found: FoundBad,
): Promise<void> {
  report.layout = 'loose';
  await looseChunks(
    root,
    async (path, raw, size) => {
      const coding = chunkFileCoding(basename(path));
      if (!coding) return;
      report.records++;
      report.bytes += size;
      const digest = formatDigest(raw);
      const problem = await store.checkFile(digest, coding);
      // Gone since it was listed (a `get` of another process set it aside): not read here.
      if (problem === undefined || problem === 'absent') return;
      report.bad++;
      found({ kind: 'file', digest, problem }, raw);
    },
    () => {},
    (path, raw) => {
      // A directory or a FIFO where a chunk file should be: `has` would count it held.
      report.records++;
      report.bad++;
      found(
        { kind: 'file', digest: formatDigest(raw), problem: `${path} is not a regular file` },
        raw,
      );
    },
  );
}

/** Reads one index whole and checks that each data chunk it refers to reads back. */
async function checkIndex(
  index: Uint8Array | ReadableStream<Uint8Array>,
  n: number,
  { store, suspect, hash, limits, report, found }: IndexCheck,
): Promise<void> {
  const stream = index instanceof Uint8Array ? streamOfBytes(index) : index;
  /** Whether chunks with a bad copy read back, as found for this index. */
  const readBack = new Map<string, boolean>();
  try {
    // Every reference is checked, a chunk as often as files hold it: a set of those checked
    // would grow with the index, or (as a Bloom filter) pass some by.
    for await (const { kind, ref } of indexChunks(stream, store, { hash, index: limits })) {
      if (kind !== 'data') continue;
      report.referenced++;
      const digest = formatDigest(ref.digest);
      let held: boolean;
      if (suspect.has(ref.digest)) {
        // Read back once: a read of a chunk with a bad copy reads it again, and more.
        const known = readBack.get(digest);
        held = known ?? (await holdsIntact(store, ref, hash));
        if (known === undefined && readBack.size < READ_BACK_KEPT) readBack.set(digest, held);
      } else held = (await store.has(digest)) || (await holdsIntact(store, ref, hash));
      if (held) continue;
      report.missing++;
      found({ kind: 'missing', digest, index: n, problem: `no copy of ${digest} reads back` });
    }
  } catch (err) {
    // What the index's bytes and chunks can be wrong with is a finding; a store that cannot
    // be read (an I/O error) is not.
    if (
      !(err instanceof LayerdiffError) ||
      err instanceof StoreError ||
      err instanceof PackFormatError
    ) {
      throw err;
    }
    report.badIndexes++;
    found({
      kind: 'index',
      index: n,
      ...(err instanceof ChunkDigestError || err instanceof ChunkNotFoundError
        ? { digest: err.digest }
        : {}),
      problem: `the index cannot be read whole: ${(err as Error).message}`,
    });
  }
}
