/**
 * Parsing and checking the JSON of an OCI image layout: `index.json`, image indexes, image
 * manifests, descriptors and the image config's `rootfs.diff_ids`. Everything here is treated
 * as hostile input: sizes are bounded before parsing, every field that is used is checked, and
 * digests are accepted only in the one form (`sha256:<64 lowercase hex>`) that can name a file
 * under `blobs/` without a path trick.
 *
 * @module
 */
import { OciFormatError, OciLimitError, OciMediaTypeError } from '../errors.js';
import { isDigest } from '../hash/digest.js';
import { quoted } from '../quoted.js';
import { isIndexMediaType, isManifestMediaType } from './media-types.js';

/** Size limits on the JSON files and blobs of a layout. */
export interface OciLimits {
  /** Largest `index.json` or image index blob. @default 4 MiB */
  index: number;
  /** Largest image manifest blob. @default 4 MiB */
  manifest: number;
  /** Largest image config blob. @default 8 MiB */
  config: number;
  /**
   * Index, manifest and config bytes one conversion reads (and holds, to check everything
   * before it converts anything), all together: an index listing thousands of manifests of
   * megabytes each would otherwise take gigabytes. @default 32 MiB
   */
  total: number;
}

/** The default {@link OciLimits}. */
export const DEFAULT_OCI_LIMITS: Readonly<OciLimits> = Object.freeze({
  index: 4 * 1024 * 1024,
  manifest: 4 * 1024 * 1024,
  config: 8 * 1024 * 1024,
  total: 32 * 1024 * 1024,
});

/** An OCI content descriptor (the fields layerdiff reads; the rest are kept in `raw`). */
export interface Descriptor {
  mediaType: string;
  /** `sha256:<hex>`, checked. */
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  /** The descriptor's JSON object as it was parsed, with every field. */
  raw: Record<string, unknown>;
}

/** An image index (`index.json` or an index blob). */
export interface ImageIndex {
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  /** The parsed JSON object. */
  raw: Record<string, unknown>;
}

/** An image manifest. */
export interface ImageManifest {
  /** The manifest's own `mediaType` field, when it has one. */
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  /** The parsed JSON object. */
  raw: Record<string, unknown>;
}

/** The annotation that names a manifest's tag in an image layout's `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/**
 * Parses a JSON file or blob, bounded in size.
 * @param bytes - the bytes.
 * @param where - what they are (a path or digest), for messages.
 * @param limit - the largest size accepted.
 * @returns the parsed value.
 * @throws {@link OciLimitError} when too large; {@link OciFormatError} when not UTF-8 JSON.
 */
export function parseJson(bytes: Uint8Array, where: string, limit: number): unknown {
  if (bytes.length > limit) {
    throw new OciLimitError(`${where}: ${bytes.length} bytes exceeds the limit of ${limit}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new OciFormatError(where, 'not UTF-8 text');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    // V8's message quotes the input: only its position is said, never the file's content.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new OciFormatError(where, `not JSON${at === undefined ? '' : ` (error at byte ${at})`}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function annotationsOf(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new OciFormatError(where, 'annotations must be an object');
  for (const [k, value] of Object.entries(v)) {
    if (typeof value !== 'string') {
      throw new OciFormatError(where, `annotation ${quoted(k)} must be a string`);
    }
  }
  return v as Record<string, string>;
}

/**
 * Checks a digest string: only `sha256:<64 lowercase hex>` is accepted, so a digest can never
 * name a path outside `blobs/sha256/`.
 * @param digest - the candidate.
 * @param where - for messages.
 * @returns the digest.
 * @throws {@link OciFormatError} otherwise.
 */
export function checkDigest(digest: unknown, where: string): string {
  if (typeof digest !== 'string') throw new OciFormatError(where, 'digest must be a string');
  if (!isDigest(digest)) {
    const algo = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):[a-zA-Z0-9=_-]+$/.exec(digest)?.[1];
    throw new OciFormatError(
      where,
      algo && algo !== 'sha256'
        ? `digest algorithm ${quoted(algo)} is not supported`
        : `malformed digest ${quoted(digest)}`,
    );
  }
  return digest;
}

/**
 * Parses and checks one descriptor.
 * @param v - the JSON value.
 * @param where - for messages.
 * @returns the descriptor.
 * @throws {@link OciFormatError} for a missing or malformed field.
 */
export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw new OciFormatError(where, 'descriptor must be an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') {
    throw new OciFormatError(where, 'descriptor mediaType must be a non-empty string');
  }
  const digest = checkDigest(v.digest, where);
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new OciFormatError(where, 'descriptor size must be a non-negative integer');
  }
  const annotations = annotationsOf(v.annotations, where);
  return {
    mediaType: v.mediaType,
    digest,
    size,
    ...(annotations ? { annotations } : {}),
    raw: v,
  };
}

function checkSchema(v: Record<string, unknown>, where: string): void {
  if (v.schemaVersion !== 2) throw new OciFormatError(where, 'schemaVersion must be 2');
}

/**
 * Parses an image index: `index.json` or an index blob.
 * @param bytes - the JSON bytes.
 * @param where - for messages.
 * @param limit - the largest size accepted. @default 4 MiB
 * @returns the index.
 * @throws {@link OciLimitError}, {@link OciFormatError}, {@link OciMediaTypeError}.
 */
export function parseIndex(
  bytes: Uint8Array,
  where: string,
  limit = DEFAULT_OCI_LIMITS.index,
): ImageIndex {
  const v = parseJson(bytes, where, limit);
  if (!isObject(v)) throw new OciFormatError(where, 'an image index must be a JSON object');
  checkSchema(v, where);
  if (v.mediaType !== undefined && !isIndexMediaType(String(v.mediaType))) {
    throw new OciMediaTypeError(String(v.mediaType), `${where}: not an image index`);
  }
  if (!Array.isArray(v.manifests)) throw new OciFormatError(where, 'manifests must be an array');
  const manifests = v.manifests.map((d, i) => parseDescriptor(d, `${where} manifests[${i}]`));
  const annotations = annotationsOf(v.annotations, where);
  return { manifests, ...(annotations ? { annotations } : {}), raw: v };
}

/**
 * Parses an image manifest (OCI, or Docker schema 2).
 * @param bytes - the JSON bytes.
 * @param where - for messages.
 * @param limit - the largest size accepted. @default 4 MiB
 * @returns the manifest.
 * @throws {@link OciLimitError}, {@link OciFormatError}, {@link OciMediaTypeError}.
 */
export function parseManifest(
  bytes: Uint8Array,
  where: string,
  limit = DEFAULT_OCI_LIMITS.manifest,
): ImageManifest {
  const v = parseJson(bytes, where, limit);
  if (!isObject(v)) throw new OciFormatError(where, 'an image manifest must be a JSON object');
  checkSchema(v, where);
  if (v.mediaType !== undefined && !isManifestMediaType(String(v.mediaType))) {
    throw new OciMediaTypeError(String(v.mediaType), `${where}: not an image manifest`);
  }
  const config = parseDescriptor(v.config, `${where} config`);
  if (!Array.isArray(v.layers)) throw new OciFormatError(where, 'layers must be an array');
  const layers = v.layers.map((d, i) => parseDescriptor(d, `${where} layers[${i}]`));
  const annotations = annotationsOf(v.annotations, where);
  return {
    ...(typeof v.mediaType === 'string' ? { mediaType: v.mediaType } : {}),
    config,
    layers,
    ...(annotations ? { annotations } : {}),
    raw: v,
  };
}

/**
 * Reads the `rootfs.diff_ids` of an image config.
 * @param bytes - the config JSON.
 * @param where - for messages.
 * @param limit - the largest size accepted. @default 8 MiB
 * @returns the diff_ids, bottom layer first.
 * @throws {@link OciLimitError}, {@link OciFormatError}.
 */
export function parseConfigDiffIds(
  bytes: Uint8Array,
  where: string,
  limit = DEFAULT_OCI_LIMITS.config,
): string[] {
  const v = parseJson(bytes, where, limit);
  if (!isObject(v) || !isObject(v.rootfs)) {
    throw new OciFormatError(where, 'an image config must have a rootfs object');
  }
  const ids = v.rootfs.diff_ids;
  if (!Array.isArray(ids)) throw new OciFormatError(where, 'rootfs.diff_ids must be an array');
  return ids.map((d, i) => checkDigest(d, `${where} rootfs.diff_ids[${i}]`));
}

/**
 * The tag of a manifest descriptor in `index.json`.
 * @param d - the descriptor.
 * @returns its `org.opencontainers.image.ref.name` annotation, if any.
 */
export function refName(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

/**
 * The platform a descriptor names (`platform` of an image index entry), as `os/arch[/variant]`.
 * @param d - the descriptor.
 * @returns the platform, or `undefined` when it names none (or not as strings).
 */
export function platformOf(d: Descriptor): string | undefined {
  const p = d.raw.platform;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return undefined;
  const { os, architecture, variant } = p as Record<string, unknown>;
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return typeof variant === 'string' && variant !== ''
    ? `${os}/${architecture}/${variant}`
    : `${os}/${architecture}`;
}

/**
 * Whether a descriptor is for the platform asked for: `os/arch/variant` names one exactly,
 * `os/arch` any variant of it.
 * @param d - the descriptor.
 * @param platform - `os/arch[/variant]`.
 */
export function isForPlatform(d: Descriptor, platform: string): boolean {
  const p = platformOf(d);
  if (p === undefined) return false;
  return p === platform || (platform.split('/').length === 2 && p.startsWith(`${platform}/`));
}

/**
 * Where a blob lives in a layout, relative to the layout's directory.
 * @param digest - a checked digest (see {@link checkDigest}).
 * @returns `blobs/sha256/<hex>`.
 */
export function blobPath(digest: string): string {
  return `blobs/sha256/${checkDigest(digest, 'blob').slice(7)}`;
}

/**
 * Parses a layout's `oci-layout` file.
 * @param bytes - its bytes.
 * @throws {@link OciFormatError} unless it declares `imageLayoutVersion` 1.0.0.
 */
export function checkLayoutFile(bytes: Uint8Array): void {
  const v = parseJson(bytes, 'oci-layout', 64 * 1024);
  if (!isObject(v) || v.imageLayoutVersion !== '1.0.0') {
    throw new OciFormatError('oci-layout', 'imageLayoutVersion must be "1.0.0"');
  }
}
