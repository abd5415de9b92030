/**
 * Web streams over files and standard streams, with bounded buffers.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, open, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { giveBack, lend } from '../lend.js';
import { intOption } from '../options.js';
import { fileError } from './file-error.js';
import { loopTurns } from './loop-turns.js';

/**
 * Default read size for file sources: large enough to keep per-piece overhead small, small
 * enough that released read buffers do not pile up between garbage collections.
 */
export const READ_SIZE = 64 * 1024;

/**
 * A pull stream over a Node readable (standard input, an HTTP request): each pull reads one
 * piece, so nothing is read ahead of the consumer. (Node 20's `Readable.toWeb` reads ahead of
 * a slow consumer.)
 * @param readable - the Node stream.
 * @returns its bytes.
 * @example
 * ```ts
 * createServer(async (req, res) => {
 *   const applied = await applyDiff(nodeReadableSource(req), store);
 * });
 * ```
 */
export function nodeReadableSource(readable: Readable): ReadableStream<Uint8Array> {
  const pieces = readable[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await pieces.next();
        if (r.done) return controller.close();
        const v = r.value;
        controller.enqueue(
          typeof v === 'string'
            ? new TextEncoder().encode(v)
            : new Uint8Array(v.buffer, v.byteOffset, v.length),
        );
      },
      async cancel(reason) {
        await pieces.return?.(reason);
        readable.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Options of {@link fileSource}. */
export interface FileSourceOptions {
  /** Bytes per read. @default {@link READ_SIZE} */
  readSize?: number;
  /**
   * Read with synchronous system calls on the calling thread. For a file in the page cache this
   * is about three times faster than thread-pool reads (no cross-thread round trip per read),
   * but each read blocks the event loop while it runs: for command-line tools, not servers.
   * @default false
   */
  blocking?: boolean;
  /**
   * Lend read buffers to the pipeline and reuse those it gives back (see `lend`): a conversion
   * then reads into a handful of buffers instead of leaving every one to the garbage
   * collector, which keeps peak memory steady. Only for a stream that goes straight into
   * `convert`, `createConverter` or `createDiff`: a consumer that keeps the bytes it is given
   * (a `tee()` branch, a collector) would see them overwritten. @default false
   */
  recycle?: boolean;
}

/** Spare read buffers a recycling source keeps. */
const MAX_SPARE_READS = 32;

/** Where a file source gets its read buffers: fresh ones, or lent ones that come back. */
function readBuffers(readSize: number, recycle: boolean): () => Uint8Array {
  if (!recycle) return () => new Uint8Array(readSize);
  const spares: ArrayBuffer[] = [];
  const back = (b: ArrayBuffer) => {
    if (spares.length < MAX_SPARE_READS) spares.push(b);
  };
  return () => {
    const buffer = spares.pop() ?? new ArrayBuffer(readSize);
    lend(buffer, back);
    return new Uint8Array(buffer);
  };
}

/**
 * A pull stream over a file (or standard input for `-`).
 * @param path - file path, or `-` for stdin.
 * @param options - read size and blocking reads.
 * @returns the file's bytes; a file that cannot be opened or read errors it with a
 *   `FileError` naming the file (`cannot read x.idx: is a directory`).
 */
export function fileSource(
  path: string,
  options: FileSourceOptions = {},
): ReadableStream<Uint8Array> {
  if (path === '-') return nodeReadableSource(process.stdin);
  const readSize = intOption(options.readSize, 'readSize', READ_SIZE);
  if (readSize < 1) throw new UsageError(`readSize must be at least 1, got ${readSize}`);
  const take = readBuffers(readSize, options.recycle === true);
  return options.blocking ? blockingFileSource(path, take) : asyncFileSource(path, take);
}

/** Rethrows a failed open or read as a `FileError` naming the file. */
function readError(path: string): (err: unknown) => never {
  return (err) => {
    throw fileError(err, path, 'read');
  };
}

function asyncFileSource(path: string, take: () => Uint8Array): ReadableStream<Uint8Array> {
  let fh: FileHandle | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          fh ??= await open(path, 'r').catch(readError(path));
          const buf = take();
          const { bytesRead } = await fh.read(buf, 0, buf.length, null).catch(readError(path));
          if (bytesRead === 0) {
            await fh.close();
            controller.close();
            return;
          }
          controller.enqueue(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        } catch (err) {
          // A failed pull is not followed by cancel: close the handle here.
          await fh?.close().catch(() => {});
          throw err;
        }
      },
      async cancel() {
        await fh?.close();
      },
    },
    // A few reads ahead, so the next read's thread-pool round trip overlaps the processing of
    // this one (one read at a time left the main thread idle a fifth of the time).
    { highWaterMark: 4 },
  );
}

/** Blocking calls between two turns of the event loop (see {@link loopTurns}). */
export const BLOCKING_CALLS_PER_TURN = 16;

function blockingFileSource(path: string, take: () => Uint8Array): ReadableStream<Uint8Array> {
  let fd: number | undefined;
  const turn = loopTurns(BLOCKING_CALLS_PER_TURN);
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        await turn();
        try {
          const buf = take();
          let n: number;
          try {
            fd ??= openSync(path, 'r');
            n = readSync(fd, buf, 0, buf.length, null);
          } catch (err) {
            throw fileError(err, path, 'read');
          }
          if (n === 0) {
            close();
            controller.close();
            return;
          }
          controller.enqueue(n === buf.length ? buf : buf.subarray(0, n));
        } catch (err) {
          close();
          throw err;
        }
      },
      cancel: close,
    },
    { highWaterMark: 1 },
  );
}

const WRITE_BATCH = 64 * 1024;

/**
 * Tells whether a path names this process's standard output (`-`, `/dev/stdout`, or the file
 * or pipe it is redirected to), so that a command writing its result there puts its summary
 * on standard error instead.
 * @param path - an output path.
 */
export async function isStdout(path: string): Promise<boolean> {
  if (path === '-') return true;
  const st = await stat(path).catch(() => undefined);
  return st !== undefined && sameFile(st, 1);
}

/** Tells whether `st` describes the file open on descriptor `fd`. */
function sameFile(st: { dev: number; ino: number }, fd: number): boolean {
  try {
    const other = fstatSync(fd);
    return other.dev === st.dev && other.ino === st.ino;
  } catch {
    return false;
  }
}

/** Options of {@link atomicFile} and {@link pipeToOutput}. */
export interface AtomicFileOptions {
  /**
   * Write with synchronous calls on the calling thread: several times faster than thread-pool
   * writes for a pipeline that writes 64 KiB at a time, but each write blocks the event loop
   * (a slow FIFO reader blocks it for longer). For command-line tools. @default false
   */
  blocking?: boolean;
  /**
   * Give the buffer behind each piece back (`giveBack`) once the piece is written: for a
   * stream that lends one buffer per piece, such as `reassemble` with `recycle`, so that its
   * buffers are reused. A stream that emits several pieces of one lent buffer must not be
   * written this way. @default false
   */
  giveBack?: boolean;
}

/** A file being written that appears under its final name only when complete. */
export interface AtomicFile {
  writable: WritableStream<Uint8Array>;
  /** Moves the finished file into place. Throws unless the writable has closed. */
  commit(): Promise<void>;
  /** Deletes the partial file (aborting the writable does this too). */
  discard(): Promise<void>;
}

/**
 * Where a new output goes: the target of a symbolic link that points to nothing yet (as a
 * shell's `>` would create it, taken relative to the link's directory), else the path itself.
 * @param path - an output path that does not exist (`stat` fails).
 * @returns the path the file is made at.
 */
export async function danglingTarget(path: string): Promise<string> {
  const link = await readlink(path).catch(() => undefined);
  return link === undefined ? path : resolvePath(dirname(path), link);
}

/**
 * Temporary files being written (those of {@link atomicFile}, a pack store's open pack) not
 * yet renamed into place or removed.
 */
const temporaries = new Set<string>();

/**
 * Notes a temporary file being written, for {@link removeTemporaryFiles}.
 * @param path - the file.
 */
export function noteTemporaryFile(path: string): void {
  temporaries.add(path);
}

/**
 * Forgets a temporary file noted with {@link noteTemporaryFile} (it was renamed or removed).
 * @param path - the file.
 */
export function forgetTemporaryFile(path: string): void {
  temporaries.delete(path);
}

/**
 * Removes, at once, the temporary files noted and not yet forgotten: for a process about to
 * end on a signal (the CLI does this on SIGINT, SIGTERM and SIGHUP), which would otherwise
 * leave them behind.
 */
export function removeTemporaryFiles(): void {
  for (const path of temporaries) {
    try {
      unlinkSync(path);
    } catch {
      // Gone already.
    }
  }
  temporaries.clear();
}

/**
 * Writes to a temporary file beside `path` and renames it into place on {@link AtomicFile.commit},
 * so a failed command never leaves a file that looks complete. A file it replaces keeps its
 * mode, setuid and setgid bits included, and its owner and group where this process may set
 * them (as root; elsewhere the new file is the writer's, as with `cp -p`). A symbolic link to
 * a regular file is kept: its target is what gets replaced. A path that is not a regular file
 * (a device such as `/dev/null`, a FIFO, `/dev/stdout`) is written directly instead: renaming
 * over it would replace the device itself, and nothing can be taken back from it anyway. A
 * path that is this process's standard output or error (`-`, `/dev/stdout`, or the file, pipe
 * or socket it leads to) is written through that stream itself: reopening it would start a
 * second file offset (or fail, for a socket).
 * @param path - the final path, or `-` for standard output.
 * @param options - blocking writes.
 * @returns the writer.
 */
export async function atomicFile(
  path: string,
  options: AtomicFileOptions = {},
): Promise<AtomicFile> {
  if (path === '-') return streamFile(path, process.stdout, options);
  const existing = await stat(path).catch(() => undefined);
  if (existing && sameFile(existing, 1)) return streamFile(path, process.stdout, options);
  if (existing && sameFile(existing, 2)) return streamFile(path, process.stderr, options);
  const direct = existing !== undefined && !existing.isFile();
  const final = existing?.isFile() ? await realpath(path) : await danglingTarget(path);
  const tmp = direct ? path : `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  // Noted before it exists, so that a signal during the open leaves nothing either.
  if (!direct) temporaries.add(tmp);
  const fh = await open(tmp, direct ? 'w' : 'wx').catch((err: unknown) => {
    temporaries.delete(tmp);
    // Named after the output asked for, not the temporary file beside it.
    throw fileError(err, path, 'write');
  });
  /**
   * Gives the new file the mode and owner of the one it replaces, once written: a write by
   * anyone but root clears setuid and setgid bits, and so does a change of owner.
   */
  const keepMode = async () => {
    if (direct || !existing) return;
    // Best effort: refused where this process may not give files away (EPERM), or in a user
    // namespace that does not map the owner (EINVAL).
    await fh.chown(existing.uid, existing.gid).catch(() => {});
    await fh.chmod(existing.mode & 0o7777).catch((err: unknown) => {
      throw fileError(err, path, 'write');
    });
  };
  const batch = new Uint8Array(WRITE_BATCH);
  let batchLen = 0;
  const turn = loopTurns(BLOCKING_CALLS_PER_TURN);
  /** Writes all of `bytes` (a write may be short). */
  const writeAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) {
      if (options.blocking) await turn();
      let bytesWritten: number;
      try {
        bytesWritten = options.blocking
          ? writeSync(fh.fd, bytes, at, bytes.length - at)
          : (await fh.write(bytes, at, bytes.length - at)).bytesWritten;
      } catch (err) {
        // Named after the output asked for (`cannot write x.tar: no space left on device`).
        throw fileError(err, path, 'write');
      }
      if (bytesWritten <= 0) throw new Error(`write to ${tmp} made no progress`);
      at += bytesWritten;
    }
  };
  const flush = async () => {
    if (batchLen === 0) return;
    await writeAll(batch.subarray(0, batchLen));
    batchLen = 0;
  };
  let closed = false;
  let complete = false;
  const close = async () => {
    if (!closed) {
      closed = true;
      await fh.close();
    }
  };
  const discard = async () => {
    await close();
    if (!direct) await unlink(tmp).catch(() => {});
    temporaries.delete(tmp);
  };
  return {
    writable: new WritableStream<Uint8Array>({
      async write(chunk) {
        // Small pieces (index records) are gathered into one reused buffer: one write call per
        // 64 KiB instead of one per record.
        if (chunk.length >= WRITE_BATCH) {
          await flush();
          await writeAll(chunk);
        } else {
          if (batchLen + chunk.length > WRITE_BATCH) await flush();
          batch.set(chunk, batchLen);
          batchLen += chunk.length;
        }
        if (options.giveBack) giveBack(chunk.buffer);
      },
      async close() {
        await flush();
        await keepMode();
        await close();
        complete = true;
      },
      abort: discard,
    }),
    async commit() {
      if (!complete) throw new Error(`${path}: commit before the writable closed`);
      if (direct) return;
      await rename(tmp, final);
      temporaries.delete(tmp);
    },
    discard,
  };
}

/**
 * A writable over standard output (or another Node stream) that waits for `drain`, so output is
 * never buffered without bound.
 * @param out - the stream. @default process.stdout
 * @param options - whether to give each piece's buffer back once written (see
 *   {@link AtomicFileOptions.giveBack}); a signal that fails the writes (one waiting for
 *   `drain` included) when it is aborted: for a stream that may never say it is gone, such as
 *   an HTTP response queued behind another on a connection that has closed.
 * @returns the sink.
 */
export function stdoutSink(
  out: NodeJS.WritableStream = process.stdout,
  options: Pick<AtomicFileOptions, 'giveBack'> & { signal?: AbortSignal } = {},
): WritableStream<Uint8Array> {
  // A stream error (EPIPE once the reader of a pipe has gone) fails the write waiting for
  // `drain` and every later one; left unheard, it would crash the process.
  let failed: { err: unknown } | undefined;
  let waiting: ((err: unknown) => void) | undefined;
  const onError = (err: unknown) => {
    failed ??= { err };
    waiting?.(err);
  };
  // Destroyed without an error, a stream emits no 'drain' either.
  const onClose = () => onError(new Error('the output stream was closed'));
  const signal = options.signal;
  const onAbort = () => onError(signal?.reason);
  const stopListening = () => {
    out.off('error', onError);
    out.off('close', onClose);
    signal?.removeEventListener('abort', onAbort);
  };
  out.on('error', onError);
  out.on('close', onClose);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return new WritableStream<Uint8Array>({
    close: stopListening,
    abort: stopListening,
    write(chunk) {
      if (failed) throw failed.err;
      return new Promise<void>((resolve, reject) => {
        // The stream may hold the piece until it is written: given back only then.
        const ok = out.write(chunk, (err) => {
          if (err) reject(err);
          else if (options.giveBack) giveBack(chunk.buffer);
        });
        if (ok) return resolve();
        const drained = () => {
          waiting = undefined;
          resolve();
        };
        waiting = (err) => {
          waiting = undefined;
          out.off('drain', drained);
          reject(err);
        };
        out.once('drain', drained);
      });
    },
  });
}

/** An {@link AtomicFile} over one of the process's own streams: nothing to publish or undo. */
function streamFile(
  path: string,
  out: NodeJS.WritableStream,
  options: AtomicFileOptions,
): AtomicFile {
  let complete = false;
  const sink = stdoutSink(out, options).getWriter();
  return {
    writable: new WritableStream<Uint8Array>({
      write: (chunk) => sink.write(chunk),
      // Closing the sink ends its listening on the stream, not the stream itself.
      close: async () => {
        await sink.close();
        complete = true;
      },
      abort: (reason) => sink.abort(reason),
    }),
    async commit() {
      if (!complete) throw new Error(`${path}: commit before the writable closed`);
    },
    async discard() {},
  };
}

/**
 * Pipes a stream to a file, atomically (see {@link atomicFile}: on failure no output file is
 * left), or to standard output when `path` is undefined or `-`.
 * @param stream - the bytes.
 * @param path - the output file.
 * @param options - blocking writes.
 */
export async function pipeToOutput(
  stream: ReadableStream<Uint8Array>,
  path: string | undefined,
  options: AtomicFileOptions = {},
): Promise<void> {
  let out: AtomicFile;
  try {
    out = await atomicFile(path ?? '-', options);
  } catch (err) {
    // Nothing will read the stream: let its source stop.
    await stream.cancel(err).catch(() => {});
    throw err;
  }
  try {
    await stream.pipeTo(out.writable);
    await out.commit();
  } catch (err) {
    await out.discard();
    throw err;
  }
}

/**
 * Flushes a directory's entries (files renamed or made in it) to disk.
 * @param dir - the directory.
 */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
