/**
 * Reading an OCI image layout from wherever its files are: `index.json`, nested indexes,
 * manifests and configs, each checked against its descriptor's size and digest before it is
 * parsed. Platform-neutral: the files come through a {@link LayoutFiles} (a directory in Node,
 * a bucket or embedded data in a Worker).
 *
 * @module
 */
import {
  OciDigestError,
  OciFormatError,
  OciLimitError,
  OciMediaTypeError,
  OciPlatformError,
  OciRefNotFoundError,
} from '../errors.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';
import {
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
} from './parse.js';

/** Nested image indexes deeper than this are refused (`ERR_OCI_LIMIT`). */
export const MAX_INDEX_DEPTH = 8;

/** Where a layout's files come from. Nothing read through it is trusted. */
export interface LayoutFiles {
  /**
   * The registry repository the files are read from (`host/repository`), for a layout read
   * from one: `oci convert` records it, and `oci push` mounts blobs from it.
   */
  readonly source?: string;
  /**
   * Reads `oci-layout` or `index.json` whole.
   * @throws {@link OciFormatError} when missing, {@link OciLimitError} over `limit` bytes.
   */
  readTop(name: 'oci-layout' | 'index.json', limit: number): Promise<Uint8Array>;
  /**
   * Reads a blob whole (its size and digest are checked by the caller).
   * @param d - its descriptor; `d.digest` is a checked `sha256:<hex>`.
   * @param limit - the most bytes to read.
   * @throws {@link OciBlobNotFoundError} when absent.
   */
  readBlob(
    d: { digest: string; size: number; mediaType?: string },
    limit: number,
  ): Promise<Uint8Array>;
  /**
   * Checks that a blob is there with the descriptor's size (not its digest), without reading it.
   * @throws {@link OciBlobNotFoundError} when absent, {@link OciDigestError} for another size.
   */
  statBlob(d: { digest: string; size: number }): Promise<void>;
  /**
   * A stream of a blob's bytes, for blobs too large to read whole (the caller checks size and
   * digest as it reads). The stream errors with {@link OciBlobNotFoundError} when absent.
   * @param digest - a checked `sha256:<hex>`.
   */
  openBlob(digest: string): ReadableStream<Uint8Array>;
}

/** A manifest with its config, read and checked. */
export interface Image {
  descriptor: Descriptor;
  bytes: Uint8Array;
  manifest: ImageManifest;
  configBytes: Uint8Array;
  diffIds: string[];
}

/** An image layout being read: every blob checked against its descriptor. */
export class LayoutReader {
  protected constructor(
    /** Where the files come from. */
    readonly files: LayoutFiles,
    /** The `oci-layout` file's bytes. */
    readonly layoutFile: Uint8Array,
    /** The `index.json` bytes. */
    readonly indexBytes: Uint8Array,
    /** `index.json`, parsed. */
    readonly index: ImageIndex,
    /** Size limits. */
    readonly limits: OciLimits,
    /** SHA-256 of a whole blob, as `sha256:<hex>`. */
    protected readonly sha256: (bytes: Uint8Array) => string | Promise<string>,
  ) {}

  /**
   * Opens a layout: reads and checks `oci-layout` and `index.json`.
   * @param files - where the layout's files come from.
   * @param options - size limits, and the hashing of blobs. @default webHashProvider()
   * @returns the layout.
   * @throws {@link OciFormatError} or {@link OciLimitError} for a malformed layout.
   */
  static async fromFiles(
    files: LayoutFiles,
    options: { limits?: Partial<OciLimits>; hash?: HashProvider } = {},
  ): Promise<LayoutReader> {
    const hash = options.hash ?? webHashProvider();
    const read = await readTops(files, options.limits);
    return new LayoutReader(
      files,
      read.layoutFile,
      read.indexBytes,
      read.index,
      read.limits,
      async (bytes) => formatDigest(await hash.digest(bytes)),
    );
  }

  /**
   * Reads a whole blob, checking its size and digest.
   * @param d - the descriptor.
   * @param limit - the largest size accepted.
   * @returns the blob's bytes.
   * @throws {@link OciLimitError}, {@link OciBlobNotFoundError}, {@link OciDigestError}.
   */
  async readBlob(
    d: { digest: string; size: number; mediaType?: string },
    limit: number,
  ): Promise<Uint8Array> {
    if (d.size > limit) {
      throw new OciLimitError(`blob ${d.digest}: ${d.size} bytes exceeds the limit of ${limit}`);
    }
    const bytes = await this.files.readBlob(d, limit);
    if (bytes.length !== d.size) {
      throw new OciDigestError(
        d.digest,
        `read ${bytes.length} bytes, the descriptor says ${d.size}`,
      );
    }
    const actual = await this.sha256(bytes);
    if (actual !== d.digest) throw new OciDigestError(d.digest, `bytes hash to ${actual}`);
    return bytes;
  }

  /**
   * Checks that a blob is there with the descriptor's size (not its digest).
   * @param d - the descriptor.
   * @throws {@link OciBlobNotFoundError} or {@link OciDigestError}.
   */
  checkBlob(d: { digest: string; size: number }): Promise<void> {
    return this.files.statBlob(d);
  }

  /**
   * A stream of a blob's bytes (not checked: the caller checks size and digest as it reads).
   * @param digest - the blob's digest, checked.
   */
  openBlob(digest: string): ReadableStream<Uint8Array> {
    return this.files.openBlob(digest);
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
}

/**
 * Reads and checks a layout's `oci-layout` and `index.json`: what {@link LayoutReader}'s
 * constructor takes, for subclasses that open layouts their own way.
 * @param files - where the layout's files come from.
 * @param limits - size limits.
 */
export async function readTops(
  files: LayoutFiles,
  limits: Partial<OciLimits> = {},
): Promise<{
  layoutFile: Uint8Array;
  indexBytes: Uint8Array;
  index: ImageIndex;
  limits: OciLimits;
}> {
  const lim = { ...DEFAULT_OCI_LIMITS, ...limits };
  const layoutFile = await files.readTop('oci-layout', 64 * 1024);
  checkLayoutFile(layoutFile);
  const indexBytes = await files.readTop('index.json', lim.index);
  const index = parseIndex(indexBytes, 'index.json', lim.index);
  return { layoutFile, indexBytes, index, limits: lim };
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
