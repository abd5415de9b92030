/**
 * What a registry serves of one chunked OCI layout: the image as `restoreLayout` would give it
 * back, found by the same walk (`planRestore`) without writing anything. Manifests, indexes
 * and configs are held (they are small, and limited as the layout reader limits them); a
 * layer is served from its index root and the chunk store each time it is asked for.
 *
 * A layer whose blob `restoreLayout` rebuilds exactly is served under its original digest: an
 * uncompressed tar as it is, a gzip blob recompressed with the parameters its conversion
 * verified, when the engine it names is here. Any other layer, under its diff_id as the
 * uncompressed tar, in a rewritten manifest. Every layer's tar is also served under its
 * diff_id.
 *
 * @module
 */
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { coreDeflateEngines, type DeflateEngine, type GzipParams } from '../oci/gzip-reproduce.js';
import type { LayoutReader } from '../oci/layout-reader.js';
import { isIndexMediaType, isManifestMediaType } from '../oci/media-types.js';
import { type Descriptor, parseIndex, REF_NAME_ANNOTATION } from '../oci/parse.js';
import {
  layerMethod,
  type OciRestoreReport,
  planRestore,
  restoredLayer,
} from '../oci/restore-plan.js';

/** A blob a registry serves. */
export type ServedBlob =
  /** A config (or a manifest, asked for as a blob), held whole. */
  | { kind: 'bytes'; bytes: Uint8Array }
  /** An artifact's blob, streamed from the layout and checked as it goes. */
  | { kind: 'layout'; size: number }
  /** A layer: rebuilt from its index root, and gzip-compressed when `gzip` is given. */
  | {
      kind: 'layer';
      size: number;
      root: Descriptor;
      gzip?: { params: GzipParams; engine: DeflateEngine };
    };

/** A manifest or an image index a registry serves. */
export interface ServedManifest {
  mediaType: string;
  bytes: Uint8Array;
}

/** Options of {@link openRepository}. */
export interface RegistryRepositoryOptions {
  /** Hashing of the blobs made here (restored manifests). @default webHashProvider() */
  hash?: HashProvider;
  /** Engines available to recompress gzip layers. @default coreDeflateEngines() */
  engines?: DeflateEngine[];
}

/** One chunked layout, as a registry serves it. */
export interface RegistryRepository {
  /** The chunked layout (index roots are read from it when a layer is asked for). */
  layout: LayoutReader;
  /** Tags (`org.opencontainers.image.ref.name` of `index.json`'s entries) to digests. */
  tags: Map<string, string>;
  /** Manifests and image indexes by digest. */
  manifests: Map<string, ServedManifest>;
  /** Blobs by digest. */
  blobs: Map<string, ServedBlob>;
  /** What restoring the layout would give: which digests are kept. */
  report: OciRestoreReport;
}

/**
 * Reads a chunked layout (every manifest, config and index root is read and checked) and
 * works out what a registry serves of it.
 * @param layout - the chunked layout.
 * @param options - hashing and deflate engines.
 * @returns the repository.
 * @throws what {@link planRestore} throws for a malformed or inconsistent chunked layout.
 */
export async function openRepository(
  layout: LayoutReader,
  options: RegistryRepositoryOptions = {},
): Promise<RegistryRepository> {
  const hash = options.hash ?? webHashProvider();
  const engines = options.engines ?? coreDeflateEngines();
  const manifests = new Map<string, ServedManifest>();
  const blobs = new Map<string, ServedBlob>();
  const sha256 = async (bytes: Uint8Array) => formatDigest(await hash.digest(bytes));
  const { report, index } = await planRestore(layout, {
    async writeBlob(bytes, mediaType) {
      const digest = await sha256(bytes);
      if (
        mediaType !== undefined &&
        (isManifestMediaType(mediaType) || isIndexMediaType(mediaType))
      ) {
        manifests.set(digest, { mediaType, bytes });
      }
      blobs.set(digest, { kind: 'bytes', bytes });
      return { digest, size: bytes.length };
    },
    async copyBlob(d) {
      blobs.set(d.digest, { kind: 'layout', size: d.size });
    },
    async layer({ rootDescriptor: root, end, record }) {
      // The tar under its diff_id always; the original blob when it can be made.
      blobs.set(record.diffId, { kind: 'layer', size: end.size, root });
      const method = layerMethod(record, engines);
      if (method.how === 'as-is')
        return restoredLayer(record, { digest: record.digest, size: end.size }, 'as-is');
      if (method.how === 'recompressed') {
        const { params, engine } = method;
        blobs.set(record.digest, {
          kind: 'layer',
          size: record.size,
          root,
          gzip: { params, engine },
        });
        return restoredLayer(record, record, 'recompressed');
      }
      return restoredLayer(
        record,
        { digest: record.diffId, size: end.size },
        'uncompressed',
        method.reason,
      );
    },
  });
  const tags = new Map<string, string>();
  for (const d of parseIndex(index, 'index.json', layout.limits.index).manifests) {
    const tag = d.annotations?.[REF_NAME_ANNOTATION];
    if (tag !== undefined && !tags.has(tag)) tags.set(tag, d.digest);
  }
  return { layout, tags, manifests, blobs, report };
}
