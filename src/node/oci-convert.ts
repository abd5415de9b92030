/**
 * `convertLayout`: an OCI image layout in, its chunked form out (docs/OCI.md): every layer
 * converted into one chunk store, a new layout whose layer descriptors point at index roots,
 * with what restoring needs recorded in annotations. Also `flattenImage`: an image's layers
 * merged into one plain tar.
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { OciDigestError, OciFormatError, OciLimitError, OciMediaTypeError } from '../errors.js';
import { decodeRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { ANNOTATIONS, layerAnnotations, type OciLayerRecord } from '../oci/chunked.js';
import { type DeflateEngine, findGzipParams } from '../oci/gzip-reproduce.js';
import { LAYERDIFF_ROOT, layerCompression, OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import type { Descriptor, OciLimits } from '../oci/parse.js';
import { convert } from '../pipeline/convert.js';
import { type FlattenOptions, flatten } from '../pipeline/flatten.js';
import type { ChunkReader, ChunkStore } from '../store/types.js';
import { defaultDeflateEngines } from './deflate.js';
import { nodeGunzip } from './gunzip.js';
import { nodeHashProvider } from './hash.js';
import { type Image, jsonBytes, LayoutWriter, OciLayout } from './oci-layout.js';

/** Largest index root blob read: the magic, a length and one 16 MiB record. */
export const MAX_ROOT_BLOB = 8 + 4 + 16 * 1024 * 1024;

/** Options of {@link convertLayout}. */
export interface OciConvertOptions {
  /** The chunk store every layer goes into. */
  store: ChunkStore;
  /** Where the chunked layout is written; must not exist. */
  out: string;
  /** Only the manifest with this tag (`org.opencontainers.image.ref.name`). @default every manifest */
  ref?: string;
  /** Hashing. @default nodeHashProvider() */
  hash?: HashProvider;
  /** Engines tried to reproduce gzip layers. @default [pako (zlib 1.2), Node's zlib] */
  engines?: DeflateEngine[];
  /** Try to reproduce gzip layers at all. @default true */
  reproduceGzip?: boolean;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
}

/** What converting one layer did. */
export interface OciConvertedLayer extends OciLayerRecord {
  /** The index root blob in the chunked layout. */
  root: { digest: string; size: number };
  /** Whether the original blob can be restored byte for byte (uncompressed, or gzip reproduced). */
  reproducible: boolean;
  /** Why not, when not. */
  reason?: string;
  /** Data chunks new to the store, and their bytes (0 when the layer was already converted in this run). */
  newChunks: number;
  newBytes: number;
}

/** What converting one manifest did. */
export interface OciConvertedManifest {
  ref?: string;
  /** The original manifest's digest. */
  digest: string;
  /** The chunked manifest's digest. */
  chunkedDigest: string;
  layers: OciConvertedLayer[];
}

/** What {@link convertLayout} did. */
export interface OciConvertReport {
  manifests: OciConvertedManifest[];
}

/** Converts one layer blob; checks its digest, size, compression and diff_id. */
async function convertLayer(
  layout: OciLayout,
  d: Descriptor,
  diffId: string,
  options: { store: ChunkStore; hash: HashProvider; engines: DeflateEngine[]; reproduce: boolean },
): Promise<{ root: Uint8Array; layer: Omit<OciConvertedLayer, 'root'> }> {
  const compression = layerCompression(d.mediaType)!;
  const { index, done } = convert(layout.openBlob(d.digest), {
    store: options.store,
    hash: options.hash,
    gunzip: nodeGunzip(),
  });
  const rootParts: Uint8Array[] = [];
  const reader = index.getReader();
  for (;;) {
    const r = await reader.read();
    if (r.done) break;
    rootParts.push(r.value);
  }
  const result = await done;
  const root = Buffer.concat(rootParts);
  const blobDigest = result.compression === 'none' ? result.diffId : result.blobDigest;
  if (blobDigest !== d.digest) {
    throw new OciDigestError(d.digest, `layer bytes hash to ${blobDigest}`);
  }
  if (result.bytesIn !== d.size) {
    throw new OciDigestError(
      d.digest,
      `layer is ${result.bytesIn} bytes, the descriptor says ${d.size}`,
    );
  }
  if (result.compression !== compression) {
    throw new OciFormatError(
      d.digest,
      `media type ${d.mediaType} says ${compression}, the blob is ${result.compression}`,
    );
  }
  if (result.diffId !== diffId) {
    throw new OciDigestError(
      d.digest,
      `uncompressed layer hashes to ${result.diffId}, the config's diff_id is ${diffId}`,
    );
  }
  const record: OciLayerRecord = {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    diffId,
    compression,
  };
  let reproducible = compression === 'none';
  let reason: string | undefined;
  if (compression === 'gzip') {
    if (options.reproduce) {
      const found = await findGzipParams(() => layout.openBlob(d.digest), {
        engines: options.engines,
        hash: options.hash,
        digest: d.digest,
        gunzip: nodeGunzip(),
      });
      if (found.params) {
        record.gzip = found.params;
        reproducible = true;
      } else {
        reason = `gzip not reproduced: ${found.reason} (${found.tried} candidates tried)`;
      }
    } else {
      reason = 'gzip reproduction was not tried';
    }
  } else if (compression === 'zstd') {
    reason = 'zstd blobs are not reproduced';
  }
  return {
    root,
    layer: {
      ...record,
      reproducible,
      ...(reason ? { reason } : {}),
      newChunks: result.newChunks,
      newBytes: result.newBytes,
    },
  };
}

/**
 * Converts an OCI image layout into its chunked form: each layer (tar, tar+gzip, tar+zstd, OCI
 * or Docker media types) into `options.store`, and a new layout at `options.out` holding the
 * original configs, the original manifests and `index.json` (as blobs, for restoring them
 * byte for byte), one chunked manifest per image whose layers are index roots
 * ({@link LAYERDIFF_ROOT}) annotated with what restoring needs, and a chunked `index.json`.
 * Gzip layers are tried against the given engines (see `findGzipParams`).
 *
 * Every blob read is checked against its descriptor (digest and size) and every layer's
 * diff_id against the config. On any failure nothing is left at `options.out`.
 *
 * @param src - the layout's directory.
 * @param options - store, output, tag and engines.
 * @returns per manifest and layer: digests, the roots, what is reproducible.
 * @throws {@link OciFormatError}, {@link OciMediaTypeError}, {@link OciBlobNotFoundError},
 * {@link OciDigestError}, {@link OciLimitError}, {@link OciRefNotFoundError}, or a conversion error.
 * @example
 * ```ts
 * const store = await FsStore.open('store');
 * const report = await convertLayout('image', { store, out: 'image.chunked' });
 * ```
 */
export async function convertLayout(
  src: string,
  options: OciConvertOptions,
): Promise<OciConvertReport> {
  const hash = options.hash ?? nodeHashProvider();
  const engines = options.engines ?? defaultDeflateEngines();
  const layout = await OciLayout.open(src, options.limits);
  const selected = layout.select(options.ref);
  // Read and check every manifest and config, and every layer's media type and presence,
  // before converting anything.
  const images: Image[] = [];
  /** Each manifest read once: index.json may list one many times (under several tags). */
  const read = new Map<string, Image>();
  for (const d of selected) {
    const seen = read.get(d.digest);
    if (seen && seen.descriptor.size === d.size && seen.descriptor.mediaType === d.mediaType) {
      images.push({ ...seen, descriptor: d });
      continue;
    }
    const image = await layout.readImage(d);
    read.set(d.digest, image);
    for (const layer of image.manifest.layers) {
      if (layerCompression(layer.mediaType) === undefined) {
        throw new OciMediaTypeError(layer.mediaType, `${d.digest}: unsupported layer media type`);
      }
      await layout.checkBlob(layer);
    }
    images.push(image);
  }

  const writer = await LayoutWriter.create(options.out);
  try {
    const done = new Map<
      string,
      { root: { digest: string; size: number }; layer: OciConvertedLayer }
    >();
    const report: OciConvertReport = { manifests: [] };
    const descriptors: Record<string, unknown>[] = [];
    for (const image of images) {
      const layers: OciConvertedLayer[] = [];
      const rootDescriptors: Record<string, unknown>[] = [];
      for (const [i, d] of image.manifest.layers.entries()) {
        let entry = done.get(d.digest);
        if (entry) {
          // The blob was converted for another descriptor: this one must agree with its bytes
          // too, and its own media type is what its record carries (a Docker and an OCI
          // manifest may share a blob under two names for one compression).
          const compression = layerCompression(d.mediaType);
          if (compression !== entry.layer.compression) {
            throw new OciFormatError(
              d.digest,
              `media type ${d.mediaType} says ${compression}, the blob is ${entry.layer.compression}`,
            );
          }
          if (d.size !== entry.layer.size) {
            throw new OciDigestError(
              d.digest,
              `layer is ${entry.layer.size} bytes, the descriptor says ${d.size}`,
            );
          }
          entry = {
            ...entry,
            layer: { ...entry.layer, mediaType: d.mediaType, newChunks: 0, newBytes: 0 },
          };
        } else {
          const { root, layer } = await convertLayer(layout, d, image.diffIds[i]!, {
            store: options.store,
            hash,
            engines,
            reproduce: options.reproduceGzip !== false,
          });
          const written = await writer.writeBlob(root);
          entry = { root: written, layer: { ...layer, root: written } };
          done.set(d.digest, entry);
        }
        if (entry.layer.diffId !== image.diffIds[i]) {
          throw new OciDigestError(d.digest, `the config's diff_id is ${image.diffIds[i]}`);
        }
        layers.push(entry.layer);
        rootDescriptors.push({
          mediaType: LAYERDIFF_ROOT,
          digest: entry.root.digest,
          size: entry.root.size,
          annotations: layerAnnotations(entry.layer),
        });
      }
      await writer.writeBlob(image.bytes);
      await writer.writeBlob(image.configBytes);
      const chunked = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: image.manifest.config.raw,
        layers: rootDescriptors,
        annotations: {
          [ANNOTATIONS.manifestDigest]: image.descriptor.digest,
          [ANNOTATIONS.manifestSize]: String(image.descriptor.size),
          [ANNOTATIONS.manifestMediaType]: image.descriptor.mediaType,
        },
      };
      const m = await writer.writeBlob(
        withinLimit(jsonBytes(chunked), layout.limits.manifest, 'a chunked manifest'),
      );
      const { mediaType: _t, digest: _d, size: _s, ...rest } = image.descriptor.raw;
      descriptors.push({
        ...rest,
        mediaType: OCI_MANIFEST,
        digest: m.digest,
        size: m.size,
        annotations: {
          ...image.descriptor.annotations,
          [ANNOTATIONS.manifestDigest]: image.descriptor.digest,
        },
      });
      const ref = image.descriptor.annotations?.['org.opencontainers.image.ref.name'];
      report.manifests.push({
        ...(ref !== undefined ? { ref } : {}),
        digest: image.descriptor.digest,
        chunkedDigest: m.digest,
        layers,
      });
    }
    const original = await writer.writeBlob(layout.indexBytes);
    const chunkedIndex = jsonBytes({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: descriptors,
      annotations: {
        [ANNOTATIONS.indexDigest]: original.digest,
        [ANNOTATIONS.indexSize]: String(original.size),
      },
    });
    await writer.writeTop(
      'index.json',
      withinLimit(chunkedIndex, layout.limits.index, 'the chunked index.json'),
    );
    await writer.writeTop('oci-layout', layout.layoutFile);
    await writer.commit();
    return report;
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/**
 * Refuses chunked JSON larger than the limit that reading the chunked layout back enforces: it
 * is larger than its original (annotations on every descriptor), and a layout that convert
 * writes must be one restore and flatten read.
 */
function withinLimit(bytes: Uint8Array, limit: number, what: string): Uint8Array {
  if (bytes.length > limit) {
    throw new OciLimitError(
      `${what} would be ${bytes.length} bytes, over the limit of ${limit} that reading it back enforces`,
    );
  }
  return bytes;
}

/** Options of {@link flattenImage}. */
export interface OciFlattenOptions extends FlattenOptions {
  /** The store: the chunked layout's roots' chunks are there; a plain layout's layers are converted into it. */
  store: ChunkStore;
  /** The manifest's tag; may be left out when the layout holds one manifest. */
  ref?: string;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
}

/**
 * Merges an image's layers into one plain tar (see `flatten`). The layout may be a chunked
 * layout (its roots are read from the layout, their chunks from the store) or a plain one
 * (each layer is converted into the store first, checked against its digest and diff_id).
 *
 * @param src - the layout's directory.
 * @param options - store, tag, and flatten's options.
 * @returns the tar, as a pull stream.
 */
export async function flattenImage(
  src: string,
  options: OciFlattenOptions,
): Promise<ReadableStream<Uint8Array>> {
  const hash = options.hash ?? nodeHashProvider();
  const layout = await OciLayout.open(src, options.limits);
  const selected = layout.select(options.ref);
  if (selected.length !== 1) {
    throw new OciFormatError(
      'index.json',
      `${selected.length} manifests match; name one by its tag`,
    );
  }
  const image = await layout.readImage(selected[0]!);
  const roots: Uint8Array[] = [];
  for (const [i, d] of image.manifest.layers.entries()) {
    if (d.mediaType === LAYERDIFF_ROOT) {
      const bytes = await layout.readBlob(d, MAX_ROOT_BLOB);
      const root = decodeRoot(bytes);
      if (formatDigest(root.end.diffId) !== image.diffIds[i]) {
        throw new OciDigestError(
          d.digest,
          `root's diff_id differs from the config's ${image.diffIds[i]}`,
        );
      }
      roots.push(bytes);
      continue;
    }
    if (layerCompression(d.mediaType) === undefined) {
      throw new OciMediaTypeError(
        d.mediaType,
        `${image.descriptor.digest}: unsupported layer media type`,
      );
    }
    await layout.checkBlob(d);
    const { root } = await convertLayer(layout, d, image.diffIds[i]!, {
      store: options.store,
      hash,
      engines: [],
      reproduce: false,
    });
    roots.push(root);
  }
  return flatten(
    roots.map((bytes) => () => streamOfBytes(bytes)),
    options.store as ChunkReader,
    { ...options, hash },
  );
}
