/**
 * Web streams over files and standard streams, with bounded buffers.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';

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

/**
 * A pull stream over a file (or standard input for `-`).
 * @param path - file path, or `-` for stdin.
 * @param readSize - bytes per read. @default 64 KiB
 * @returns the file's bytes.
 */
export function fileSource(path: string, readSize = READ_SIZE): ReadableStream<Uint8Array> {
  if (path === '-') return nodeReadableSource(process.stdin);
  let fh: FileHandle | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          fh ??= await open(path, 'r');
          const buf = new Uint8Array(readSize);
          const { bytesRead } = await fh.read(buf, 0, readSize, null);
          if (bytesRead === 0) {
            await fh.close();
            controller.close();
            return;
          }
          controller.enqueue(bytesRead === readSize ? buf : buf.subarray(0, bytesRead));
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

const WRITE_BATCH = 64 * 1024;

/** A file being written that appears under its final name only when complete. */
export interface AtomicFile {
  writable: WritableStream<Uint8Array>;
  /** Moves the finished file into place. Throws unless the writable has closed. */
  commit(): Promise<void>;
  /** Deletes the partial file (aborting the writable does this too). */
  discard(): Promise<void>;
}

/**
 * Writes to a temporary file beside `path` and renames it into place on {@link AtomicFile.commit},
 * so a failed command never leaves a file that looks complete.
 * @param path - the final path.
 * @returns the writer.
 */
export async function atomicFile(path: string): Promise<AtomicFile> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx');
  const batch = new Uint8Array(WRITE_BATCH);
  let batchLen = 0;
  /** Writes all of `bytes` (a write may be short). */
  const writeAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; ) {
      const { bytesWritten } = await fh.write(bytes, at, bytes.length - at);
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
    await unlink(tmp).catch(() => {});
  };
  return {
    writable: new WritableStream<Uint8Array>({
      async write(chunk) {
        // Small pieces (index records) are gathered into one reused buffer: one write call per
        // 64 KiB instead of one per record.
        if (chunk.length >= WRITE_BATCH) {
          await flush();
          await writeAll(chunk);
          return;
        }
        if (batchLen + chunk.length > WRITE_BATCH) await flush();
        batch.set(chunk, batchLen);
        batchLen += chunk.length;
      },
      async close() {
        await flush();
        await close();
        complete = true;
      },
      abort: discard,
    }),
    async commit() {
      if (!complete) throw new Error(`${path}: commit before the writable closed`);
      await rename(tmp, path);
    },
    discard,
  };
}

/**
 * A writable over standard output that waits for `drain`, so output is never buffered without bound.
 * @returns the sink.
 */
export function stdoutSink(): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write(chunk) {
      return new Promise<void>((resolve, reject) => {
        const ok = process.stdout.write(chunk, (err) => (err ? reject(err) : undefined));
        if (ok) resolve();
        else process.stdout.once('drain', resolve);
      });
    },
  });
}

/**
 * Pipes a stream to a file, atomically (see {@link atomicFile}: on failure no output file is
 * left), or to standard output when `path` is undefined or `-`.
 * @param stream - the bytes.
 * @param path - the output file.
 */
export async function pipeToOutput(
  stream: ReadableStream<Uint8Array>,
  path: string | undefined,
): Promise<void> {
  if (path === undefined || path === '-') {
    await stream.pipeTo(stdoutSink());
    return;
  }
  const out = await atomicFile(path);
  try {
    await stream.pipeTo(out.writable);
    await out.commit();
  } catch (err) {
    await out.discard();
    throw err;
  }
}
