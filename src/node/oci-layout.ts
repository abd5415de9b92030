/**
 * OCI image layouts on disk: reading them (every blob checked against its descriptor's digest
 * and size), converting an image into its chunked form (every layer into one chunk store, the
 * layout written anew with index roots as layers, docs/OCI.md), restoring the original image
 * from the chunked form, and flattening an image.
 *
 * Outputs are written into a temporary directory beside the output and renamed into place at
 * the end, so a failure never leaves a layout that looks complete.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  OciBlobNotFoundError,
  OciDigestError,
  OciFormatError,
  OciLimitError,
  UsageError,
} from '../errors.js';
import { jsonBytes } from '../oci/chunked.js';
import { type Image, type LayoutFiles, LayoutReader, readTops } from '../oci/layout-reader.js';
import { blobPath, type Descriptor, type OciLimits } from '../oci/parse.js';
import { fileSource } from './io.js';

export type { Image };
export { jsonBytes };

/** An image layout directory being read. */
export class OciLayout extends LayoutReader {
  private constructor(
    /** The layout's directory. */
    readonly dir: string,
    files: LayoutFiles,
    tops: Awaited<ReturnType<typeof readTops>>,
  ) {
    super(files, tops.layoutFile, tops.indexBytes, tops.index, tops.limits, sha256);
  }

  /**
   * Opens a layout: reads and checks `oci-layout` and `index.json`.
   * @param dir - the layout's directory.
   * @param limits - size limits on JSON files and blobs.
   * @returns the layout.
   * @throws {@link OciFormatError} or {@link OciLimitError} for a malformed layout.
   */
  static async open(dir: string, limits: Partial<OciLimits> = {}): Promise<OciLayout> {
    const files: LayoutFiles = {
      readTop: (name, limit) => readSmall(join(dir, name), limit, name),
      statBlob: (d) => checkBlobFile(join(dir, blobPath(d.digest)), d),
      readBlob: async (d, limit) => {
        await checkBlobFile(join(dir, blobPath(d.digest)), d);
        return readSmall(join(dir, blobPath(d.digest)), limit, d.digest);
      },
      openBlob: (digest) => fileSource(join(dir, blobPath(digest))),
    };
    return new OciLayout(dir, files, await readTops(files, limits));
  }

  /**
   * Path of a blob's file.
   * @param digest - a checked digest.
   */
  blobFile(digest: string): string {
    return join(this.dir, blobPath(digest));
  }
}

/** Checks that a blob's file is a regular file of the descriptor's size. */
async function checkBlobFile(path: string, d: { digest: string; size: number }): Promise<void> {
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR') throw new OciBlobNotFoundError(d.digest);
    // A symbolic-link loop, a name too long, no permission: the blob cannot be had.
    throw new OciDigestError(d.digest, `cannot be read (${err.code ?? err.message})`);
  });
  if (!st.isFile()) throw new OciDigestError(d.digest, 'not a regular file');
  if (st.size !== d.size) {
    throw new OciDigestError(d.digest, `file is ${st.size} bytes, the descriptor says ${d.size}`);
  }
}

async function readSmall(path: string, limit: number, where: string): Promise<Uint8Array> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    // Non-blocking, so a FIFO planted in the layout cannot hang the open; checked below.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      if (where.startsWith('sha256:')) throw new OciBlobNotFoundError(where);
      throw new OciFormatError(where, 'missing');
    }
    // A symbolic-link loop, a name too long, no permission: typed, and naming the file.
    throw new OciFormatError(where, `cannot be read (${code ?? (err as Error).message})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new OciFormatError(where, 'not a regular file');
    const { size } = st;
    if (size > limit) {
      throw new OciLimitError(`${where}: ${size} bytes exceeds the limit of ${limit}`);
    }
    const buf = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return buf.subarray(0, at);
  } finally {
    await fh.close();
  }
}

/** `sha256:<hex>` of some bytes. */
export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A layout being written into a temporary directory beside its final place. */
export class LayoutWriter {
  private readonly written = new Set<string>();
  private constructor(
    /** Where the layout goes once complete. */
    readonly out: string,
    /** The temporary directory it is written into. */
    readonly tmp: string,
  ) {}

  /**
   * Starts a layout at `out`, which must not exist yet.
   * @param out - the final directory.
   * @returns the writer.
   * @throws {@link UsageError} when `out` exists.
   */
  static async create(out: string): Promise<LayoutWriter> {
    await mustNotExist(out);
    const tmp = join(
      dirname(out),
      `.${basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
    );
    await mkdir(join(tmp, 'blobs', 'sha256'), { recursive: true });
    return new LayoutWriter(out, tmp);
  }

  /**
   * Writes a whole blob (once per digest).
   * @param bytes - its bytes.
   * @returns its digest and size.
   */
  async writeBlob(bytes: Uint8Array): Promise<{ digest: string; size: number }> {
    const digest = sha256(bytes);
    if (!this.written.has(digest)) {
      await writeFile(join(this.tmp, blobPath(digest)), bytes);
      this.written.add(digest);
    }
    return { digest, size: bytes.length };
  }

  /**
   * Writes a blob from a stream, hashing it on the way.
   * @param stream - its bytes.
   * @param keep - decides from the digest and size whether the blob is wanted; an unwanted
   * one is deleted, not named. @default keep every blob
   * @returns its digest and size, and whether it was kept.
   */
  async writeBlobStream(
    stream: ReadableStream<Uint8Array>,
    keep: (digest: string, size: number) => boolean = () => true,
  ): Promise<{ digest: string; size: number; kept: boolean }> {
    const partial = join(this.tmp, 'blobs', `.partial-${randomBytes(6).toString('hex')}`);
    const fh = await open(partial, 'wx');
    const h = createHash('sha256');
    let size = 0;
    const reader = stream.getReader();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        h.update(r.value);
        size += r.value.length;
        for (let at = 0; at < r.value.length; ) {
          const { bytesWritten } = await fh.write(r.value, at, r.value.length - at);
          at += bytesWritten;
        }
      }
    } catch (err) {
      await reader.cancel(err).catch(() => {});
      await fh.close();
      await unlink(partial).catch(() => {});
      throw err;
    }
    await fh.close();
    const digest = `sha256:${h.digest('hex')}`;
    // Only a blob that is wanted takes its name: an unwanted one never replaces or removes a
    // blob of the same digest written earlier.
    if (!keep(digest, size)) {
      await unlink(partial).catch(() => {});
      return { digest, size, kept: false };
    }
    await rename(partial, join(this.tmp, blobPath(digest)));
    this.written.add(digest);
    return { digest, size, kept: true };
  }

  /**
   * Copies a blob of another layout as it is, checking its digest and size.
   * @param layout - the layout it is in.
   * @param d - the blob's descriptor.
   * @throws {@link OciBlobNotFoundError} or {@link OciDigestError}.
   */
  async copyFrom(layout: LayoutReader, d: Descriptor): Promise<void> {
    await layout.checkBlob(d);
    const w = await this.writeBlobStream(
      layout.openBlob(d.digest),
      (digest, size) => digest === d.digest && size === d.size,
    );
    if (!w.kept) throw new OciDigestError(d.digest, `bytes hash to ${w.digest} (${w.size} bytes)`);
  }

  /**
   * Writes a file at the layout's top (`index.json`, `oci-layout`).
   * @param name - the file name.
   * @param bytes - its bytes.
   */
  async writeTop(name: 'index.json' | 'oci-layout', bytes: Uint8Array): Promise<void> {
    await writeFile(join(this.tmp, name), bytes);
  }

  /** Moves the finished layout into place (refusing to replace anything that appeared there). */
  async commit(): Promise<void> {
    await mustNotExist(this.out);
    await rename(this.tmp, this.out);
  }

  /** Deletes everything written. */
  async discard(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
  }
}

/** Throws {@link UsageError} unless nothing (not even a dangling symlink) is at `path`. */
async function mustNotExist(path: string): Promise<void> {
  try {
    await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new UsageError(`--out ${path}: ${(err as Error).message}`);
  }
  throw new UsageError(`--out ${path} exists; give a new directory`);
}
