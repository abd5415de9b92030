/**
 * Lists of a pack's records found bad, `packs/<name>.bad` (docs/FORMAT.md §13.6): how a pack
 * store remembers, across processes, a record whose bytes failed their digest check, so that
 * the next conversion stores the chunk again and a garbage collection leaves the record out.
 *
 * A list is one line per record, `sha256:<64 hex> <offset>` and a newline, each line appended
 * with one write. Readers take the complete lines that parse and name an offset inside the
 * pack, from the first {@link MAX_BAD_BYTES} bytes, and ignore everything else: garbage, a
 * line cut short by a crash or a full disk, the rest of a larger file. A store then keeps
 * only the lines that name a record its pack's index lists (see `PackStore`). What a list
 * names is only a suspicion: a store still reads a listed record when no other copy serves,
 * so a wrong list costs a chunk stored again, never the chunk.
 *
 * @module
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { PACK_MAGIC } from '../store/pack-format.js';

/** Suffix of a pack's list of bad records, after the pack's name. */
export const BAD_SUFFIX = '.bad';

/**
 * Bytes of a list read, and the size past which no more lines are appended: over 3,000 lines
 * (a line is 74 to 84 bytes for the offsets of a 2 GiB pack).
 */
export const MAX_BAD_BYTES = 256 * 1024;

const LINE_RE = /^sha256:([0-9a-f]{64}) (0|[1-9][0-9]{0,15})$/;

/** The key of a listed record, as {@link appendBadRecord} takes it: its digest and offset. */
export function badRecordKey(digest: Uint8Array, offset: number): string {
  return `${Buffer.from(digest.buffer, digest.byteOffset, digest.length).toString('hex')} ${offset}`;
}

/** A line of a list: the record it names, if the pack has one there. */
export interface ListedRecord {
  digest: Uint8Array;
  offset: number;
}

/**
 * How far a list has been read: the file (its inode), its size then, and where the first line
 * not read yet starts (after the last newline read).
 */
export interface ListPlace {
  ino: bigint;
  size: number;
  next: number;
}

/**
 * Reads a pack's list of bad records, from where an earlier read of the same file left off
 * (lists are only appended to; a list that shrank below that place, or another file in its
 * place, is read from the start). Never fails: a list that is missing, unreadable or not a
 * regular file lists nothing (the store then behaves as if no record had been found bad).
 * Whether the pack holds a record with that digest at that offset is the caller's to check:
 * a line may name none.
 * @param path - the list (`packs/<name>.bad`).
 * @param packSize - the pack's size: a line naming an offset outside it is ignored.
 * @param from - where the last read of the list left off, if any.
 * @returns the lines read that parse, each once, from the first {@link MAX_BAD_BYTES} of the
 *   list (some 3,500 lines); and where this read left off (none when there is no list), to
 *   read from next time, and to tell from whether lines were appended since.
 */
export async function readBadRecords(
  path: string,
  packSize: number,
  from?: ListPlace,
): Promise<{ records: ListedRecord[]; place: ListPlace | undefined }> {
  const records: ListedRecord[] = [];
  let buf: Buffer;
  let ino: bigint;
  let size: number;
  let start = 0;
  let n = 0;
  try {
    // Without blocking: a FIFO in the list's place must not hang the open.
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) return { records, place: undefined };
      ino = st.ino;
      size = Number(st.size);
      if (from && from.ino === ino && from.next <= size) start = from.next;
      // Lines appended since the stat are left for the next read.
      buf = Buffer.alloc(Math.max(0, Math.min(size, MAX_BAD_BYTES) - start));
      for (let r = 1; r > 0 && n < buf.length; n += r) {
        r = (await fh.read(buf, n, buf.length - n, start + n)).bytesRead;
      }
    } finally {
      await fh.close();
    }
  } catch {
    return { records, place: undefined };
  }
  // The last piece, with no newline, is a line being appended, cut short, or cut by the limit:
  // the next read starts there.
  // The digests are copies: nothing taken from a line keeps the list's buffer alive.
  const seen = new Set<string>();
  let next = 0;
  for (let nl = buf.indexOf(10); nl >= 0 && nl < n; nl = buf.indexOf(10, next)) {
    const line = buf.toString('latin1', next, nl);
    next = nl + 1;
    const m = LINE_RE.exec(line);
    if (!m || seen.has(line)) continue;
    seen.add(line);
    const offset = Number(m[2]);
    if (offset < PACK_MAGIC.length || offset >= packSize) continue;
    records.push({ digest: new Uint8Array(Buffer.from(m[1]!, 'hex')), offset });
  }
  return { records, place: { ino, size, next: start + next } };
}

/**
 * Appends a record to a pack's list of bad records, creating the list if needed, in one write
 * (concurrent appenders each add whole lines). Nothing is appended to a list of
 * {@link MAX_BAD_BYTES} or more, nor to anything but a regular file.
 * @param path - the list (`packs/<name>.bad`).
 * @param key - the record, from {@link badRecordKey}.
 * @param sync - flush the list to disk after.
 * @throws what the open, write or sync throws (the caller may ignore it: the list is a hint).
 */
export async function appendBadRecord(path: string, key: string, sync: boolean): Promise<void> {
  const fh = await open(
    path,
    constants.O_WRONLY |
      constants.O_APPEND |
      constants.O_CREAT |
      constants.O_NONBLOCK |
      constants.O_NOFOLLOW,
    0o644,
  );
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size >= MAX_BAD_BYTES) return;
    // A short write leaves a line cut short, which readers ignore.
    await fh.write(`sha256:${key}\n`, null, 'latin1');
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}
