/**
 * OCI and Docker media types, and the ones layerdiff adds for the chunked form of an image
 * (docs/OCI.md).
 *
 * @module
 */
import type { Compression } from '../format/records.js';

/** An OCI image manifest. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** An OCI image index. */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** A Docker image manifest (schema 2); same shape as an OCI manifest. */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** A Docker manifest list; same shape as an OCI index. */
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

/** The media type of a layer descriptor in the chunked form: the blob is a layerdiff index root. */
export const LAYERDIFF_ROOT = 'application/vnd.layerdiff.index.v1.root';

/** Layer media types layerdiff reads, and how each blob is compressed. */
export const LAYER_MEDIA_TYPES: Readonly<Record<string, Compression>> = Object.freeze({
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
});

/** The media type a restored layer gets when its blob is written uncompressed. */
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
/** The uncompressed Docker layer media type. */
export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/**
 * How a layer media type's blob is compressed.
 * @param mediaType - a layer descriptor's media type.
 * @returns the compression, or `undefined` when layerdiff does not read that media type.
 */
export function layerCompression(mediaType: string): Compression | undefined {
  return Object.hasOwn(LAYER_MEDIA_TYPES, mediaType) ? LAYER_MEDIA_TYPES[mediaType] : undefined;
}

/**
 * Tells whether a media type is of an image layer family (OCI `…image.layer.…`, Docker
 * `…image.rootfs.…`), read by layerdiff or not: such a layer is never copied as an artifact.
 */
function isImageLayerFamily(mediaType: string): boolean {
  return (
    mediaType.startsWith('application/vnd.oci.image.layer.') ||
    mediaType.startsWith('application/vnd.docker.image.rootfs.')
  );
}

/**
 * Tells whether a manifest is an artifact's (an attestation, a signature): it has layers, and
 * none is of an image layer family or an index root. The chunked form holds it as it is.
 * @param layerMediaTypes - the media types of the manifest's layers.
 */
export function isArtifact(layerMediaTypes: readonly string[]): boolean {
  return (
    layerMediaTypes.length > 0 &&
    !layerMediaTypes.some((t) => isImageLayerFamily(t) || t === LAYERDIFF_ROOT)
  );
}

/**
 * Tells whether a media type is an image manifest (OCI or Docker schema 2).
 * @param mediaType - a descriptor's media type.
 */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}

/**
 * Tells whether a media type is an image index (OCI index or Docker manifest list).
 * @param mediaType - a descriptor's media type.
 */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/**
 * The uncompressed layer media type of the same family (OCI or Docker) as `mediaType`; an OCI
 * nondistributable layer stays nondistributable (Docker's foreign layers have no uncompressed
 * type, and come back as plain Docker layers).
 * @param mediaType - a layer media type.
 */
export function uncompressedLayerMediaType(mediaType: string): string {
  if (mediaType.startsWith('application/vnd.docker.')) return DOCKER_LAYER_TAR;
  return mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')
    ? 'application/vnd.oci.image.layer.nondistributable.v1.tar'
    : OCI_LAYER_TAR;
}
