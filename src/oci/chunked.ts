/**
 * The chunked form of an OCI image (docs/OCI.md): what a converted layout's manifests and
 * descriptors carry so that the original image can be restored. Pure: building and reading
 * annotations.
 *
 * @module
 */
import { OciFormatError } from '../errors.js';
import type { Compression } from '../format/records.js';
import { type GzipParams, MAX_GZIP_HEADER } from './gzip-reproduce.js';
import { isIndexMediaType, isManifestMediaType, layerCompression } from './media-types.js';
import { checkDigest, type Descriptor } from './parse.js';

/** Annotation keys of the chunked form. */
export const ANNOTATIONS = Object.freeze({
  /** On a root's layer descriptor: the original layer's media type. */
  layerMediaType: 'dev.layerdiff.layer.mediaType',
  /** On a root's layer descriptor: the original layer blob's digest. */
  layerDigest: 'dev.layerdiff.layer.digest',
  /** On a root's layer descriptor: the original layer blob's size, decimal. */
  layerSize: 'dev.layerdiff.layer.size',
  /** On a root's layer descriptor: the layer's diff_id (digest of the uncompressed tar). */
  diffId: 'dev.layerdiff.layer.diffId',
  /** On a root's layer descriptor: JSON {@link GzipParams} that reproduced the gzip blob. */
  gzip: 'dev.layerdiff.layer.gzip',
  /** On a chunked manifest (and its descriptor in `index.json`): the original manifest's digest. */
  manifestDigest: 'dev.layerdiff.manifest.digest',
  /** On a chunked manifest: the original manifest's size, decimal. */
  manifestSize: 'dev.layerdiff.manifest.size',
  /** On a chunked manifest: the original manifest's media type. */
  manifestMediaType: 'dev.layerdiff.manifest.mediaType',
  /**
   * On a chunked `index.json`: the digest of the blob holding the original `index.json`. On a
   * chunked nested index (and its descriptor): the original index's digest.
   */
  indexDigest: 'dev.layerdiff.index.digest',
  /** On a chunked `index.json` or nested index: the original's size, decimal. */
  indexSize: 'dev.layerdiff.index.size',
  /** On a chunked nested index: the original index's media type. */
  indexMediaType: 'dev.layerdiff.index.mediaType',
  /** On a chunked nested index that left entries out: the platform it kept. */
  indexPlatform: 'dev.layerdiff.index.platform',
  /**
   * On a chunked `index.json` of an image pulled from a registry: where from
   * (`host/repository`), a repository `oci push` mounts blobs from.
   */
  source: 'dev.layerdiff.source',
});

/** What restoring one layer needs, beyond its index root. */
export interface OciLayerRecord {
  /** The original layer descriptor's media type. */
  mediaType: string;
  /** The original blob's digest. */
  digest: string;
  /** The original blob's size. */
  size: number;
  /** The uncompressed tar's digest. */
  diffId: string;
  /** How the original blob was compressed (from its media type, checked against its bytes). */
  compression: Compression;
  /** For a gzip blob: what reproduced it byte for byte, when something did. */
  gzip?: GzipParams;
}

/**
 * The annotations that record a layer on its root's descriptor.
 * @param record - the layer.
 * @returns annotation keys and values.
 */
export function layerAnnotations(record: OciLayerRecord): Record<string, string> {
  return {
    [ANNOTATIONS.layerMediaType]: record.mediaType,
    [ANNOTATIONS.layerDigest]: record.digest,
    [ANNOTATIONS.layerSize]: String(record.size),
    [ANNOTATIONS.diffId]: record.diffId,
    ...(record.gzip ? { [ANNOTATIONS.gzip]: JSON.stringify(record.gzip) } : {}),
  };
}

function sizeOf(v: string | undefined, where: string, what: string): number {
  if (v === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new OciFormatError(where, `${what} must be a decimal size`);
  }
  return Number(v);
}

/**
 * Reads a layer record back from a root's descriptor.
 * @param d - the layer descriptor of a chunked manifest.
 * @param where - for messages.
 * @returns the record.
 * @throws {@link OciFormatError} when an annotation is missing or malformed.
 */
export function parseLayerRecord(d: Descriptor, where: string): OciLayerRecord {
  const a = d.annotations ?? {};
  const mediaType = a[ANNOTATIONS.layerMediaType];
  if (!mediaType) throw new OciFormatError(where, `${ANNOTATIONS.layerMediaType} is missing`);
  const compression = layerCompression(mediaType);
  if (compression === undefined) {
    throw new OciFormatError(where, `unknown original layer media type ${mediaType}`);
  }
  const record: OciLayerRecord = {
    mediaType,
    digest: checkDigest(a[ANNOTATIONS.layerDigest], `${where} ${ANNOTATIONS.layerDigest}`),
    size: sizeOf(a[ANNOTATIONS.layerSize], where, ANNOTATIONS.layerSize),
    diffId: checkDigest(a[ANNOTATIONS.diffId], `${where} ${ANNOTATIONS.diffId}`),
    compression,
  };
  const gz = a[ANNOTATIONS.gzip];
  if (gz !== undefined) record.gzip = parseGzipParams(gz, where);
  return record;
}

function parseGzipParams(text: string, where: string): GzipParams {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new OciFormatError(where, `${ANNOTATIONS.gzip} is not JSON`);
  }
  const o = v as Record<string, unknown>;
  const int = (x: unknown, lo: number, hi: number) =>
    typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof o.engine !== 'string' ||
    !int(o.level, 0, 9) ||
    !int(o.memLevel, 1, 9) ||
    !int(o.strategy, 0, 4) ||
    typeof o.header !== 'string' ||
    !/^(?:[0-9a-f]{2})+$/.test(o.header) ||
    o.header.length > 2 * MAX_GZIP_HEADER
  ) {
    throw new OciFormatError(where, `${ANNOTATIONS.gzip} is malformed`);
  }
  return {
    engine: o.engine,
    level: o.level as number,
    memLevel: o.memLevel as number,
    strategy: o.strategy as number,
    header: o.header,
  };
}

/**
 * Reads the original manifest's descriptor from a chunked manifest's annotations.
 * @param annotations - the chunked manifest's annotations.
 * @param where - for messages.
 * @returns `{ mediaType, digest, size }` of the original manifest.
 */
export function originalManifestOf(
  annotations: Record<string, string> | undefined,
  where: string,
): { mediaType: string; digest: string; size: number } {
  const { manifestMediaType, manifestDigest, manifestSize } = ANNOTATIONS;
  const keys = { mediaType: manifestMediaType, digest: manifestDigest, size: manifestSize };
  return originalOf(annotations, keys, isManifestMediaType, where);
}

/**
 * Reads where the original `index.json` is kept from a chunked `index.json`'s annotations.
 * @param annotations - the chunked index's annotations.
 * @returns its blob's digest and size, or `undefined` when not recorded.
 */
export function originalIndexOf(
  annotations: Record<string, string> | undefined,
): { digest: string; size: number } | undefined {
  const digest = annotations?.[ANNOTATIONS.indexDigest];
  if (digest === undefined) return undefined;
  return {
    digest: checkDigest(digest, `index.json ${ANNOTATIONS.indexDigest}`),
    size: sizeOf(annotations?.[ANNOTATIONS.indexSize], 'index.json', ANNOTATIONS.indexSize),
  };
}

/**
 * Reads the original index's descriptor from a chunked nested index's annotations.
 * @param annotations - the chunked index's annotations.
 * @param where - for messages.
 * @returns `{ mediaType, digest, size }` of the original index.
 */
export function originalNestedIndexOf(
  annotations: Record<string, string> | undefined,
  where: string,
): { mediaType: string; digest: string; size: number } {
  const { indexMediaType, indexDigest, indexSize } = ANNOTATIONS;
  const keys = { mediaType: indexMediaType, digest: indexDigest, size: indexSize };
  return originalOf(annotations, keys, isIndexMediaType, where);
}

/** The original's descriptor, from the annotations `keys` names; of a media type `kind` takes. */
function originalOf(
  annotations: Record<string, string> | undefined,
  keys: { mediaType: string; digest: string; size: string },
  kind: (mediaType: string) => boolean,
  where: string,
): { mediaType: string; digest: string; size: number } {
  const a = annotations ?? {};
  const mediaType = a[keys.mediaType];
  if (mediaType === undefined || !kind(mediaType)) {
    throw new OciFormatError(where, `${keys.mediaType} is missing or of another kind`);
  }
  return {
    mediaType,
    digest: checkDigest(a[keys.digest], `${where} ${keys.digest}`),
    size: sizeOf(a[keys.size], where, keys.size),
  };
}

/** Largest index root blob read: the magic, a length and one 16 MiB record. */
export const MAX_ROOT_BLOB = 8 + 4 + 16 * 1024 * 1024;

/** JSON bytes as written for new manifests and indexes: compact, UTF-8. */
export function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}
