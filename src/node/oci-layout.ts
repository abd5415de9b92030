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
  OciMediaTypeError,
  OciPlatformError,
  OciRefNotFoundError,
  UsageError,
} from '../errors.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import {
  blobPath,
  checkLayoutFile,
  DEFAULT_OCI_LIMITS,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isForPlatform,
  type OciLimits,
  parseConfigDiffIds,
  parseIndex,
  parseManifest,
  platformOf,
  refName,
} from '../oci/parse.js';
import { fileSource } from './io.js';

/** Nested image indexes deeper than this are refused (`ERR_OCI_LIMIT`). */
export const MAX_INDEX_DEPTH = 8;

/** An image layout directory being read. */
export class OciLayout {
  private constructor(
    /** The layout's directory. */
    readonly dir: string,
    /** The `oci-layout` file's bytes. */
    readonly layoutFile: Uint8Array,
    /** The `index.json` bytes. */
    readonly indexBytes: Uint8Array,
    /** `index.json`, parsed. */
    readonly index: ImageIndex,
    /** Size limits. */
    readonly limits: OciLimits,
  ) {}

  /**
   * Opens a layout: reads and checks `oci-layout` and `index.json`.
   * @param dir - the layout's directory.
   * @param limits - size limits on JSON files and blobs.
   * @returns the layout.
   * @throws {@link OciFormatError} or {@link OciLimitError} for a malformed layout.
   */
  static async open(dir: string, limits: Partial<OciLimits> = {}): Promise<OciLayout> {
    const lim = { ...DEFAULT_OCI_LIMITS, ...limits };
    const layoutFile = await readSmall(join(dir, 'oci-layout'), 64 * 1024, 'oci-layout');
    checkLayoutFile(layoutFile);
    const indexBytes = await readSmall(join(dir, 'index.json'), lim.index, 'index.json');
    const index = parseIndex(indexBytes, 'index.json', lim.index);
    return new OciLayout(dir, layoutFile, indexBytes, index, lim);
  }

  /**
   * Path of a blob's file.
   * @param digest - a checked digest.
   */
  blobFile(digest: string): string {
    return join(this.dir, blobPath(digest));
  }

  /**
   * Checks that a blob exists as a regular file of the descriptor's size (not its digest).
   * @param d - the descriptor.
   * @throws {@link OciBlobNotFoundError} or {@link OciDigestError}.
   */
  async checkBlob(d: { digest: string; size: number }): Promise<void> {
    const path = this.blobFile(d.digest);
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

  /**
   * Reads a whole blob, checking its size and digest.
   * @param d - the descriptor.
   * @param limit - the largest size accepted.
   * @returns the blob's bytes.
   * @throws {@link OciLimitError}, {@link OciBlobNotFoundError}, {@link OciDigestError}.
   */
  async readBlob(d: { digest: string; size: number }, limit: number): Promise<Uint8Array> {
    if (d.size > limit) {
      throw new OciLimitError(`blob ${d.digest}: ${d.size} bytes exceeds the limit of ${limit}`);
    }
    await this.checkBlob(d);
    const bytes = await readSmall(this.blobFile(d.digest), limit, d.digest);
    if (bytes.length !== d.size) {
      throw new OciDigestError(
        d.digest,
        `read ${bytes.length} bytes, the descriptor says ${d.size}`,
      );
    }
    const actual = sha256(bytes);
    if (actual !== d.digest) throw new OciDigestError(d.digest, `bytes hash to ${actual}`);
    return bytes;
  }

  /**
   * A stream of a blob's bytes (not checked: the caller checks the digest as it reads).
   * @param digest - the blob's digest.
   */
  openBlob(digest: string): ReadableStream<Uint8Array> {
    return fileSource(this.blobFile(digest));
  }

  /**
   * The descriptors of `index.json` to work on: image manifests and nested image indexes
   * (multi-platform images).
   * @param ref - a tag (`org.opencontainers.image.ref.name`), or every entry when absent.
   * @returns the descriptors.
   * @throws {@link OciRefNotFoundError} when no entry has the tag;
   * {@link OciMediaTypeError} for a descriptor that is neither a manifest nor an index.
   */
  select(ref?: string): Descriptor[] {
    const all = this.index.manifests;
    const chosen = ref === undefined ? all : all.filter((d) => refName(d) === ref);
    if (ref !== undefined && chosen.length === 0) {
      throw new OciRefNotFoundError(
        ref,
        all.map(refName).filter((r): r is string => r !== undefined),
      );
    }
    for (const d of chosen) checkListed(d);
    return chosen;
  }

  /**
   * The one image manifest a command that works on a single image names: the tagged entry of
   * `index.json` (or its only entry), and within a nested index (a multi-platform image) the
   * manifest for `platform`. Without a platform, manifests that name `unknown/unknown`
   * (attestations) do not count.
   * @param ref - a tag, or none.
   * @param platform - `os/arch[/variant]`; `os/arch` also matches any variant.
   * @returns the manifest's descriptor.
   * @throws {@link OciRefNotFoundError}, {@link OciFormatError} when several entries match the
   * tag, {@link OciPlatformError} when no manifest or several are for the platform.
   */
  async selectImage(ref?: string, platform?: string): Promise<Descriptor> {
    const selected = this.select(ref);
    if (selected.length !== 1) {
      throw new OciFormatError(
        'index.json',
        `${selected.length} manifests match; name one by its tag`,
      );
    }
    const leaves: Descriptor[] = [];
    const walk = async (d: Descriptor, depth: number): Promise<void> => {
      if (!isIndexMediaType(d.mediaType)) {
        leaves.push(d);
        return;
      }
      for (const c of (await this.readIndex(d, depth)).index.manifests) await walk(c, depth + 1);
    };
    await walk(selected[0]!, 0);
    if (leaves.length === 1 && platform === undefined) return leaves[0]!;
    const named = (d: Descriptor) => platformOf(d) ?? 'unknown';
    const matching = leaves.filter((d) =>
      platform === undefined ? named(d) !== 'unknown/unknown' : isForPlatform(d, platform),
    );
    if (matching.length === 1) return matching[0]!;
    const offered = (matching.length > 1 ? matching : leaves).map(named);
    throw new OciPlatformError(platform, offered, matching.length);
  }

  /**
   * Reads and checks a nested image index (its entries' media types included).
   * @param d - the index's descriptor.
   * @param depth - indexes above it, `index.json` aside.
   * @returns the index's bytes and the index.
   * @throws {@link OciLimitError} at {@link MAX_INDEX_DEPTH} indexes above it.
   */
  async readIndex(d: Descriptor, depth: number): Promise<{ bytes: Uint8Array; index: ImageIndex }> {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new OciLimitError(`${d.digest}: image indexes nested over ${MAX_INDEX_DEPTH} deep`);
    }
    const bytes = await this.readBlob(d, this.limits.index);
    const index = parseIndex(bytes, d.digest, this.limits.index);
    const own = index.raw.mediaType;
    if (own !== undefined && own !== d.mediaType) {
      throw new OciFormatError(
        d.digest,
        `index says mediaType ${own}, its descriptor ${d.mediaType}`,
      );
    }
    for (const m of index.manifests) {
      if (m.digest === d.digest) throw new OciFormatError(d.digest, 'the index lists itself');
      checkListed(m);
    }
    return { bytes, index };
  }

  /**
   * Reads and checks a manifest.
   * @param d - the manifest's descriptor.
   * @returns the manifest's bytes and the manifest.
   */
  async readManifest(d: Descriptor): Promise<{ bytes: Uint8Array; manifest: ImageManifest }> {
    const bytes = await this.readBlob(d, this.limits.manifest);
    const manifest = parseManifest(bytes, d.digest, this.limits.manifest);
    if (manifest.mediaType !== undefined && manifest.mediaType !== d.mediaType) {
      throw new OciFormatError(
        d.digest,
        `manifest says mediaType ${manifest.mediaType}, its descriptor ${d.mediaType}`,
      );
    }
    for (const x of [manifest.config, ...manifest.layers]) {
      if (x.digest === d.digest)
        throw new OciFormatError(d.digest, 'the manifest refers to itself');
    }
    return { bytes, manifest };
  }

  /**
   * Reads and checks a manifest, its config and the config's diff_ids.
   * @param d - the manifest's descriptor.
   * @param read - the manifest, when {@link readManifest} has read it already.
   * @returns the manifest's bytes, the manifest, the config's bytes and diff_ids.
   */
  async readImage(
    d: Descriptor,
    read?: { bytes: Uint8Array; manifest: ImageManifest },
  ): Promise<Image> {
    const { bytes, manifest } = read ?? (await this.readManifest(d));
    const configBytes = await this.readBlob(manifest.config, this.limits.config);
    const diffIds = parseConfigDiffIds(configBytes, manifest.config.digest, this.limits.config);
    if (diffIds.length !== manifest.layers.length) {
      throw new OciFormatError(
        d.digest,
        `${manifest.layers.length} layers, but the config lists ${diffIds.length} diff_ids`,
      );
    }
    return { descriptor: d, bytes, manifest, configBytes, diffIds };
  }

  /**
   * Copies a blob into `writer`'s layout as it is, checking its digest and size.
   * @param d - the blob's descriptor.
   * @throws {@link OciBlobNotFoundError} or {@link OciDigestError}.
   */
  async copyBlob(d: Descriptor, writer: LayoutWriter): Promise<void> {
    await this.checkBlob(d);
    const w = await writer.writeBlobStream(
      this.openBlob(d.digest),
      (digest, size) => digest === d.digest && size === d.size,
    );
    if (!w.kept) throw new OciDigestError(d.digest, `bytes hash to ${w.digest} (${w.size} bytes)`);
  }
}

/** An entry of an image index must be an image manifest or an image index. */
function checkListed(d: Descriptor): void {
  if (!isManifestMediaType(d.mediaType) && !isIndexMediaType(d.mediaType)) {
    throw new OciMediaTypeError(
      d.mediaType,
      'an image index entry is neither a manifest nor an index',
    );
  }
}

/** A manifest with its config, read and checked. */
export interface Image {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: ImageManifest;
  configBytes: Uint8Array;
  diffIds: string[];
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

/** JSON bytes as written for new manifests and indexes: compact, UTF-8. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
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
