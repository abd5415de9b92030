/**
 * `restoreLayout`: the chunked form of an image (docs/OCI.md) and its chunk store in, the
 * original OCI image layout out. Every diff_id and config is kept; a compressed layer keeps its
 * blob digest only when recompressing it with the recorded parameters gives exactly that
 * digest (checked); otherwise it is written uncompressed under a new manifest, and the report
 * says which digests were kept and which changed.
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { OciDigestError, OciFormatError } from '../errors.js';
import { decodeRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import {
  ANNOTATIONS,
  type OciLayerRecord,
  originalIndexOf,
  originalManifestOf,
  originalNestedIndexOf,
  parseLayerRecord,
} from '../oci/chunked.js';
import { createGzipWriter, type DeflateEngine } from '../oci/gzip-reproduce.js';
import {
  isArtifact,
  isIndexMediaType,
  LAYERDIFF_ROOT,
  OCI_INDEX,
  uncompressedLayerMediaType,
} from '../oci/media-types.js';
import {
  type Descriptor,
  type ImageIndex,
  type OciLimits,
  parseIndex,
  parseManifest,
  platformOf,
} from '../oci/parse.js';
import { reassemble } from '../pipeline/reassemble.js';
import type { ChunkReader } from '../store/types.js';
import { defaultDeflateEngines } from './deflate.js';
import { nodeHashProvider } from './hash.js';
import { MAX_ROOT_BLOB } from './oci-convert.js';
import { jsonBytes, LayoutWriter, OciLayout } from './oci-layout.js';

/** Options of {@link restoreLayout}. */
export interface OciRestoreOptions {
  /** The chunk store the layers were converted into. */
  store: ChunkReader;
  /** Where the restored layout is written; must not exist. */
  out: string;
  /** Only the manifest with this tag. @default every manifest */
  ref?: string;
  /** Hashing. @default nodeHashProvider() */
  hash?: HashProvider;
  /** Engines available for recompressing gzip layers. @default [pako (zlib 1.2), Node's zlib] */
  engines?: DeflateEngine[];
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
}

/** How a layer blob was written back. */
export type RestoredHow = 'as-is' | 'recompressed' | 'uncompressed';

/** What restoring one layer did. */
export interface OciRestoredLayer {
  /** The original blob's media type and digest. */
  originalMediaType: string;
  originalDigest: string;
  /** What was written: media type, digest (checked) and size. */
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  /** True when `digest` is the original digest. */
  kept: boolean;
  /** `as-is` (uncompressed tar), `recompressed` (gzip reproduced) or `uncompressed` (fallback). */
  how: RestoredHow;
  /** Why the original digest was not kept. */
  reason?: string;
}

/** What restoring one manifest did. */
export interface OciRestoredManifest {
  /** The tag of its entry in `index.json`. */
  ref?: string;
  /** The original nested index (multi-platform image) that lists it, when one does. */
  index?: string;
  /** The platform its descriptor names (`os/arch[/variant]`). */
  platform?: string;
  /** True for an artifact's manifest (no image layers), copied as it is with its blobs. */
  copied?: boolean;
  /** The original manifest's digest. */
  originalDigest: string;
  /** The restored manifest's digest. */
  digest: string;
  /** True when the original manifest was restored byte for byte. */
  kept: boolean;
  /** The config's digest (always the original's). */
  config: string;
  layers: OciRestoredLayer[];
}

/** What restoring one nested index (a multi-platform image) did. */
export interface OciRestoredIndex {
  /** The tag of its entry in `index.json`. */
  ref?: string;
  /** The nested index that lists it, when one does. */
  index?: string;
  /** The original index's digest. */
  originalDigest: string;
  /** The restored index's digest. */
  digest: string;
  /** True when the original index was restored byte for byte. */
  kept: boolean;
  /** Entries of the original that the conversion left out (`platform`), and this one lacks. */
  leftOut?: number;
}

/** What {@link restoreLayout} did. */
export interface OciRestoreReport {
  /** Every manifest restored, those that nested indexes list included. */
  manifests: OciRestoredManifest[];
  /** Every nested index restored. */
  indexes: OciRestoredIndex[];
  /** True when `index.json` is the original byte for byte. */
  indexKept: boolean;
}

/**
 * Restores an OCI image layout from its chunked form. Configs, and the original manifests and
 * `index.json` when every layer keeps its digest, come back byte for byte; uncompressed layers
 * are rebuilt exactly (diff_id checked); gzip layers are recompressed with the recorded
 * parameters and kept only when the result has the original digest. Any other layer is written
 * uncompressed (its digest is then its diff_id, so the config still matches) under a new
 * manifest, and a new `index.json` lists it.
 *
 * @param src - the chunked layout's directory.
 * @param options - store, output, tag and engines.
 * @returns per manifest and layer: which digests were kept and which changed, and why.
 * @throws typed OCI errors for a malformed or inconsistent chunked layout, and chunk errors
 * (`ERR_CHUNK_NOT_FOUND`, `ERR_CHUNK_DIGEST`, `ERR_LAYER_DIGEST`) from the store. On failure
 * nothing is left at `options.out`.
 */
export async function restoreLayout(
  src: string,
  options: OciRestoreOptions,
): Promise<OciRestoreReport> {
  const hash = options.hash ?? nodeHashProvider();
  const engines = options.engines ?? defaultDeflateEngines();
  const layout = await OciLayout.open(src, options.limits);
  const selected = layout.select(options.ref);
  const origIndexRef = originalIndexOf(layout.index.annotations);
  let origIndexBytes: Uint8Array | undefined;
  let origIndex: ImageIndex | undefined;
  if (origIndexRef) {
    origIndexBytes = await layout.readBlob(origIndexRef, layout.limits.index);
    origIndex = parseIndex(origIndexBytes, origIndexRef.digest, layout.limits.index);
  }

  const writer = await LayoutWriter.create(options.out);
  try {
    const ctx: RestoreContext = {
      layout,
      writer,
      restored: new Map(),
      manifests: new Map(),
      store: options.store,
      hash,
      engines,
      report: { manifests: [], indexes: [], indexKept: false },
    };
    const descriptors: Record<string, unknown>[] = [];
    const kept = new Set<string>();
    for (const d of selected) {
      const ref = d.annotations?.['org.opencontainers.image.ref.name'];
      const r = await restoreEntry(ctx, d, ref === undefined ? {} : { ref }, 0);
      const base = originalDescriptor(origIndex, r.orig, d);
      descriptors.push({ ...base, digest: r.digest, size: r.size });
      if (r.kept) kept.add(r.digest);
    }
    if (origIndex && origIndexBytes && origIndex.manifests.every((m) => kept.has(m.digest))) {
      await writer.writeTop('index.json', origIndexBytes);
      ctx.report.indexKept = true;
    } else {
      const base = origIndex?.raw ?? { schemaVersion: 2, mediaType: OCI_INDEX };
      await writer.writeTop('index.json', jsonBytes({ ...base, manifests: descriptors }));
    }
    await writer.writeTop('oci-layout', layout.layoutFile);
    await writer.commit();
    return ctx.report;
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/** What restoring an entry of an index wrote: a manifest, or a nested index. */
interface RestoredEntry {
  /** The original's descriptor. */
  orig: { mediaType: string; digest: string; size: number };
  /** What was written. */
  digest: string;
  size: number;
  /** True when it is the original, byte for byte. */
  kept: boolean;
}

/**
 * Restores one entry of a chunked index: a manifest (each once per restore: `ctx.manifests`,
 * reported wherever it is listed), or a chunked nested index with every entry it lists.
 */
async function restoreEntry(
  ctx: RestoreContext,
  d: Descriptor,
  via: { ref?: string; index?: string },
  depth: number,
): Promise<RestoredEntry> {
  if (isIndexMediaType(d.mediaType)) return restoreIndex(ctx, d, via, depth);
  let m = ctx.manifests.get(d.digest);
  if (!m) {
    m = await restoreManifest(ctx, d);
    ctx.manifests.set(d.digest, m);
  }
  const platform = platformOf(d);
  ctx.report.manifests.push({
    ...via,
    ...(platform !== undefined ? { platform } : {}),
    originalDigest: m.orig.digest,
    digest: m.digest,
    kept: m.kept,
    ...(m.copied ? { copied: true } : {}),
    config: m.config,
    layers: m.layers,
  });
  return m;
}

/**
 * Restores a chunked nested index (a multi-platform image): every entry it lists, then the
 * original index, byte for byte when every entry is, or with the changed entries' digests and
 * sizes replaced.
 */
async function restoreIndex(
  ctx: RestoreContext,
  d: Descriptor,
  via: { ref?: string; index?: string },
  depth: number,
): Promise<RestoredEntry> {
  const { layout, writer } = ctx;
  const { index } = await layout.readIndex(d, depth);
  const orig = originalNestedIndexOf(index.annotations, d.digest);
  if (d.annotations?.[ANNOTATIONS.indexDigest] !== orig.digest) {
    throw new OciFormatError(d.digest, `its descriptor does not name the original ${orig.digest}`);
  }
  // Read as the index it was: its digest, size and media type checked.
  const { bytes: origBytes, index: origIndex } = await layout.readIndex(
    { ...orig, raw: {} },
    depth,
  );
  // The chunked entries are the original's, in its order, but for those a conversion for one
  // platform left out.
  const listed: Record<string, unknown>[] = [];
  let o = 0;
  let all = true;
  for (const [i, c] of index.manifests.entries()) {
    const r = await restoreEntry(ctx, c, { ...via, index: orig.digest }, depth + 1);
    const same = (x: Descriptor) =>
      r.orig.digest === x.digest && r.orig.size === x.size && r.orig.mediaType === x.mediaType;
    while (o < origIndex.manifests.length && !same(origIndex.manifests[o]!)) o++;
    const x = origIndex.manifests[o++];
    if (!x) {
      throw new OciFormatError(`${d.digest} manifests[${i}]`, 'differs from the original index');
    }
    listed.push(r.kept ? x.raw : { ...x.raw, digest: r.digest, size: r.size });
    all &&= r.kept;
  }
  const leftOut = origIndex.manifests.length - index.manifests.length;
  const kept = all && leftOut === 0;
  const written = kept
    ? await writer.writeBlob(origBytes)
    : await writer.writeBlob(jsonBytes({ ...origIndex.raw, manifests: listed }));
  ctx.report.indexes.push({
    ...via,
    originalDigest: orig.digest,
    digest: written.digest,
    kept,
    ...(leftOut > 0 ? { leftOut } : {}),
  });
  return { orig, ...written, kept };
}

/**
 * Restores one manifest: its config, its layers (each once per restore: `ctx.restored`) and
 * the manifest itself, byte for byte when every layer is. A manifest the conversion copied
 * (an artifact: no image layers) is copied back, with its config and blobs.
 */
async function restoreManifest(ctx: RestoreContext, d: Descriptor): Promise<RestoredManifest> {
  const { layout, writer, restored } = ctx;
  const read = await layout.readManifest(d);
  if (isArtifact(read.manifest.layers.map((l) => l.mediaType))) {
    for (const x of [read.manifest.config, ...read.manifest.layers]) {
      await layout.copyBlob(x, writer);
    }
    await writer.writeBlob(read.bytes);
    const orig = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    return {
      orig,
      digest: d.digest,
      size: d.size,
      kept: true,
      copied: true,
      config: read.manifest.config.digest,
      layers: [],
    };
  }
  const image = await layout.readImage(d, read);
  const orig = originalManifestOf(image.manifest.annotations, d.digest);
  const origBytes = await layout.readBlob(orig, layout.limits.manifest);
  const origManifest = parseManifest(origBytes, orig.digest, layout.limits.manifest);
  if (origManifest.config.digest !== image.manifest.config.digest) {
    throw new OciFormatError(d.digest, 'config differs from the original manifest');
  }
  if (origManifest.layers.length !== image.manifest.layers.length) {
    throw new OciFormatError(d.digest, 'layer count differs from the original manifest');
  }
  await writer.writeBlob(image.configBytes);

  const layers: OciRestoredLayer[] = [];
  for (const [i, rootDesc] of image.manifest.layers.entries()) {
    const where = `${d.digest} layers[${i}]`;
    if (rootDesc.mediaType !== LAYERDIFF_ROOT) {
      throw new OciFormatError(where, `media type ${rootDesc.mediaType} is not ${LAYERDIFF_ROOT}`);
    }
    const record = parseLayerRecord(rootDesc, where);
    const o = origManifest.layers[i]!;
    if (o.digest !== record.digest || o.mediaType !== record.mediaType || o.size !== record.size) {
      throw new OciFormatError(where, 'annotations differ from the original manifest');
    }
    if (record.diffId !== image.diffIds[i]) {
      throw new OciFormatError(where, `diff_id differs from the config's ${image.diffIds[i]}`);
    }
    let layer = restored.get(record.digest);
    if (layer && layer.diffId !== record.diffId) {
      throw new OciFormatError(where, `diff_id differs from another layer of the same digest`);
    }
    if (!layer) {
      const rootBytes = await layout.readBlob(rootDesc, MAX_ROOT_BLOB);
      const root = decodeRoot(rootBytes);
      if (formatDigest(root.end.diffId) !== record.diffId) {
        throw new OciDigestError(rootDesc.digest, `root's diff_id differs from ${record.diffId}`);
      }
      layer = await restoreLayer(rootBytes, record, writer, ctx);
      restored.set(record.digest, layer);
    } else if (!layer.kept) {
      // Restored for another manifest, perhaps of another format (Docker, OCI): this one's
      // uncompressed media type follows its own original.
      layer = { ...layer, mediaType: uncompressedLayerMediaType(record.mediaType) };
    }
    layers.push(layer);
  }

  const kept = layers.every((l) => l.kept);
  let manifest: { digest: string; size: number };
  if (kept) {
    manifest = await writer.writeBlob(origBytes);
  } else {
    const raw = {
      ...origManifest.raw,
      layers: origManifest.layers.map((l, i) => {
        const r = layers[i]!;
        if (r.kept) return l.raw;
        const { urls: _urls, ...rest } = l.raw;
        return { ...rest, mediaType: r.mediaType, digest: r.digest, size: r.size };
      }),
    };
    manifest = await writer.writeBlob(jsonBytes(raw));
  }
  return { orig, ...manifest, kept, config: image.manifest.config.digest, layers };
}

/** What {@link restoreEntry} works with, shared by every entry of one restore. */
interface RestoreContext {
  layout: OciLayout;
  writer: LayoutWriter;
  /** Layers restored so far, by their original digest. */
  restored: Map<string, OciRestoredLayer>;
  /** Manifests restored so far, by the chunked manifest's digest. */
  manifests: Map<string, RestoredManifest>;
  report: OciRestoreReport;
  store: ChunkReader;
  hash: HashProvider;
  engines: DeflateEngine[];
}

/** What restoring one chunked manifest wrote. */
interface RestoredManifest {
  /** The original manifest's descriptor. */
  orig: ReturnType<typeof originalManifestOf>;
  /** The restored manifest blob. */
  digest: string;
  size: number;
  kept: boolean;
  /** An artifact's manifest, copied as it is. */
  copied?: boolean;
  config: string;
  layers: OciRestoredLayer[];
}

/** The original `index.json` descriptor of a manifest, or one rebuilt from the chunked one. */
function originalDescriptor(
  origIndex: ImageIndex | undefined,
  orig: { mediaType: string; digest: string; size: number },
  chunked: Descriptor,
): Record<string, unknown> {
  // Two tags may name one manifest: the chunked descriptor keeps the original's annotations,
  // tag included, so the entry that carries the same tag is the one.
  const ref = (m: Descriptor) => m.annotations?.['org.opencontainers.image.ref.name'];
  const same = origIndex?.manifests.filter((m) => m.digest === orig.digest) ?? [];
  const found = same.find((m) => ref(m) === ref(chunked)) ?? same[0];
  if (found) return found.raw;
  const annotations = { ...chunked.annotations };
  delete annotations[ANNOTATIONS.manifestDigest];
  return {
    ...chunked.raw,
    mediaType: orig.mediaType,
    digest: orig.digest,
    size: orig.size,
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
}

async function restoreLayer(
  rootBytes: Uint8Array,
  record: OciLayerRecord,
  writer: LayoutWriter,
  options: { store: ChunkReader; hash: HashProvider; engines: DeflateEngine[] },
): Promise<OciRestoredLayer> {
  const tar = () => reassemble(streamOfBytes(rootBytes), options.store, { hash: options.hash });
  const common = {
    originalMediaType: record.mediaType,
    originalDigest: record.digest,
    diffId: record.diffId,
  };
  if (record.compression === 'none') {
    const w = await writer.writeBlobStream(tar());
    if (w.digest !== record.digest) {
      throw new OciDigestError(record.digest, `rebuilt layer hashes to ${w.digest}`);
    }
    return { ...common, mediaType: record.mediaType, ...w, kept: true, how: 'as-is' };
  }
  let reason: string;
  if (record.compression === 'gzip' && record.gzip) {
    const params = record.gzip;
    const engine = options.engines.find((e) => e.name === params.engine);
    if (engine) {
      const w = await writer.writeBlobStream(
        tar().pipeThrough(createGzipWriter(params, engine)),
        (digest, size) => digest === record.digest && size === record.size,
      );
      if (w.kept) {
        return {
          ...common,
          mediaType: record.mediaType,
          digest: w.digest,
          size: w.size,
          kept: true,
          how: 'recompressed',
        };
      }
      reason = `recompressing with ${params.engine} level ${params.level} gave ${w.digest}`;
    } else {
      reason = `deflate engine ${params.engine} is not available here`;
    }
  } else if (record.compression === 'gzip') {
    reason = 'no gzip parameters reproduced the original blob at conversion';
  } else {
    reason = `${record.compression} blobs are not reproduced`;
  }
  const w = await writer.writeBlobStream(tar());
  if (w.digest !== record.diffId) {
    throw new OciDigestError(
      record.digest,
      `rebuilt tar hashes to ${w.digest}, not ${record.diffId}`,
    );
  }
  return {
    ...common,
    mediaType: uncompressedLayerMediaType(record.mediaType),
    ...w,
    kept: false,
    how: 'uncompressed',
    reason,
  };
}
