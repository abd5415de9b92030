/**
 * The walk that restores an image from its chunked form (docs/OCI.md), apart from where the
 * result goes: every entry of `index.json`, nested indexes, manifests, configs and layers is
 * read and checked against the original it names, and handed to a {@link RestoreSink}. The
 * sink decides what each layer becomes (`restoreLayout` writes a layout; the registry serves
 * one); the walk then writes each manifest, index and `index.json` back byte for byte when
 * every layer under it kept its digest, or rewritten with the new digests otherwise.
 *
 * @module
 */
import { OciDigestError, OciFormatError } from '../errors.js';
import type { EndRecord } from '../format/records.js';
import { decodeRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import { WorkGroup } from '../work-group.js';
import {
  ANNOTATIONS,
  jsonBytes,
  MAX_ROOT_BLOB,
  type OciLayerRecord,
  originalIndexOf,
  originalManifestOf,
  originalNestedIndexOf,
  parseLayerRecord,
} from './chunked.js';
import type { DeflateEngine, GzipParams } from './gzip-reproduce.js';
import type { LayoutReader } from './layout-reader.js';
import {
  isArtifact,
  isIndexMediaType,
  LAYERDIFF_ROOT,
  OCI_INDEX,
  uncompressedLayerMediaType,
} from './media-types.js';
import {
  type Descriptor,
  type ImageIndex,
  parseIndex,
  parseManifest,
  platformOf,
  REF_NAME_ANNOTATION,
} from './parse.js';

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

/** What a restore did. */
export interface OciRestoreReport {
  /** Every manifest restored, those that nested indexes list included. */
  manifests: OciRestoredManifest[];
  /** Every nested index restored. */
  indexes: OciRestoredIndex[];
  /** True when `index.json` is the original byte for byte. */
  indexKept: boolean;
}

/** A layer to restore, read and checked by the walk. */
export interface LayerToRestore {
  /** The index root's descriptor in the chunked layout, and its bytes (diff_id checked). */
  rootDescriptor: Descriptor;
  rootBytes: Uint8Array;
  /** The root's end record: the tar's diff_id and size. */
  end: EndRecord;
  /** What the chunked layout records of the original blob. */
  record: OciLayerRecord;
}

/** Where a restore's blobs go. */
export interface RestoreSink {
  /**
   * Takes a whole blob: a config, a manifest or an index (`mediaType` says which of the last
   * two it is). Called once or more per digest.
   * @returns its digest and size.
   */
  writeBlob(bytes: Uint8Array, mediaType?: string): Promise<{ digest: string; size: number }>;
  /** Takes an artifact's blob as it is in the chunked layout, checked against `d`. */
  copyBlob(d: Descriptor): Promise<void>;
  /**
   * Restores a layer (called once per original digest): as it was, or uncompressed.
   * @param signal - aborted, with the first failure as its reason, when another layer of the
   * restore failed: the sink should stop and fail soon after.
   * @returns what it became; `digest` and `size` only as checked or as the sink will check.
   */
  layer(layer: LayerToRestore, signal: AbortSignal): Promise<OciRestoredLayer>;
  /**
   * How many {@link layer} calls may run at once, started in the image's layer order. A restore
   * whose layer fails waits for the others to settle (their signal aborted) before it fails.
   * @default 1
   */
  concurrency?: number;
}

/** How a layer can come back, with the deflate engines at hand. */
export type LayerMethod =
  /** An uncompressed tar: rebuilt as it was. */
  | { how: 'as-is' }
  /** A gzip blob whose compression the conversion reproduced, with an engine here. */
  | { how: 'recompressed'; params: GzipParams; engine: DeflateEngine }
  /** Anything else: only its tar, under its diff_id, for `reason`. */
  | { how: 'uncompressed'; reason: string };

/**
 * Decides how a layer can come back.
 * @param record - what the chunked layout records of the original blob.
 * @param engines - the deflate engines available.
 */
export function layerMethod(
  record: OciLayerRecord,
  engines: readonly DeflateEngine[],
): LayerMethod {
  if (record.compression === 'none') return { how: 'as-is' };
  if (record.compression !== 'gzip') {
    return { how: 'uncompressed', reason: `${record.compression} blobs are not reproduced` };
  }
  const params = record.gzip;
  if (!params) {
    return {
      how: 'uncompressed',
      reason: 'no gzip parameters reproduced the original blob at conversion',
    };
  }
  const engine = engines.find((e) => e.name === params.engine);
  if (!engine) {
    return {
      how: 'uncompressed',
      reason: `deflate engine ${params.engine} is not available here`,
    };
  }
  if (engine.levels && !engine.levels.includes(params.level)) {
    return {
      how: 'uncompressed',
      reason: `deflate engine ${params.engine} has no level ${params.level}`,
    };
  }
  if (engine.strategies && !engine.strategies.includes(params.strategy)) {
    return {
      how: 'uncompressed',
      reason: `deflate engine ${params.engine} has no strategy ${params.strategy}`,
    };
  }
  return { how: 'recompressed', params, engine };
}

/**
 * The report of a layer that came back: under its original digest (`as-is`, `recompressed`),
 * or as its tar under its diff_id (`uncompressed`, with the reason).
 * @param record - what the chunked layout records of the original blob.
 * @param blob - the digest and size of what was (or will be) served or written.
 * @param how - how it came back.
 * @param reason - why the original digest was not kept (`uncompressed` only).
 */
export function restoredLayer(
  record: OciLayerRecord,
  blob: { digest: string; size: number },
  how: RestoredHow,
  reason?: string,
): OciRestoredLayer {
  const kept = how !== 'uncompressed';
  return {
    originalMediaType: record.mediaType,
    originalDigest: record.digest,
    mediaType: kept ? record.mediaType : uncompressedLayerMediaType(record.mediaType),
    digest: blob.digest,
    size: blob.size,
    diffId: record.diffId,
    kept,
    how,
    ...(reason !== undefined ? { reason } : {}),
  };
}

/**
 * Restores the chunked layout's entries (or those with tag `ref`) into `sink`.
 * @param layout - the chunked layout.
 * @param sink - where blobs go.
 * @param ref - one tag only. @default every entry
 * @returns the report, and the restored `index.json`'s bytes (not given to the sink).
 * @throws typed OCI errors for a malformed or inconsistent chunked layout, and what the sink
 * throws.
 */
export async function planRestore(
  layout: LayoutReader,
  sink: RestoreSink,
  ref?: string,
): Promise<{ report: OciRestoreReport; index: Uint8Array }> {
  const selected = layout.select(ref);
  const origIndexRef = originalIndexOf(layout.index.annotations);
  let origIndexBytes: Uint8Array | undefined;
  let origIndex: ImageIndex | undefined;
  if (origIndexRef) {
    origIndexBytes = await layout.readBlob(origIndexRef, layout.limits.index);
    origIndex = parseIndex(origIndexBytes, origIndexRef.digest, layout.limits.index);
  }
  const ctx: RestoreContext = {
    layout,
    sink,
    work: new WorkGroup(sink.concurrency ?? 1),
    restored: new Map(),
    manifests: new Map(),
    report: { manifests: [], indexes: [], indexKept: false },
  };
  const descriptors: Record<string, unknown>[] = [];
  const kept = new Set<string>();
  for (const d of selected) {
    const tag = d.annotations?.[REF_NAME_ANNOTATION];
    const r = await restoreEntry(ctx, d, tag === undefined ? {} : { ref: tag }, 0);
    const base = originalDescriptor(origIndex, r.orig, d);
    descriptors.push({ ...base, digest: r.digest, size: r.size });
    if (r.kept) kept.add(r.digest);
  }
  if (origIndex && origIndexBytes && origIndex.manifests.every((m) => kept.has(m.digest))) {
    ctx.report.indexKept = true;
    return { report: ctx.report, index: origIndexBytes };
  }
  const base = origIndex?.raw ?? { schemaVersion: 2, mediaType: OCI_INDEX };
  return { report: ctx.report, index: jsonBytes({ ...base, manifests: descriptors }) };
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
  const { layout, sink } = ctx;
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
  const written = await sink.writeBlob(
    kept ? origBytes : jsonBytes({ ...origIndex.raw, manifests: listed }),
    orig.mediaType,
  );
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
  const { layout, sink, restored } = ctx;
  const read = await layout.readManifest(d);
  if (isArtifact(read.manifest.layers.map((l) => l.mediaType))) {
    for (const x of [read.manifest.config, ...read.manifest.layers]) await sink.copyBlob(x);
    await sink.writeBlob(read.bytes, d.mediaType);
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
  await sink.writeBlob(image.configBytes);

  // Every layer is checked against the originals before any is restored; then they are
  // restored `sink.concurrency` at once.
  const checked: Array<{ rootDesc: Descriptor; record: OciLayerRecord; where: string }> = [];
  const diffIds = new Map([...restored].map(([digest, r]) => [digest, r.diffId]));
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
    if ((diffIds.get(record.digest) ?? record.diffId) !== record.diffId) {
      throw new OciFormatError(where, `diff_id differs from another layer of the same digest`);
    }
    diffIds.set(record.digest, record.diffId);
    checked.push({ rootDesc, record, where });
  }
  const pending = checked.map(({ rootDesc, record, where }) => {
    const layer = restored.get(record.digest);
    if (!layer) {
      const done = ctx.work.run((signal) => restoreOne(ctx, rootDesc, record, where, signal));
      restored.set(record.digest, { diffId: record.diffId, done });
      return done;
    }
    // Restored for another manifest (or earlier in this one), perhaps of another format
    // (Docker, OCI): an uncompressed one's media type follows this one's own original.
    return layer.done.then((l) =>
      l.kept ? l : { ...l, mediaType: uncompressedLayerMediaType(record.mediaType) },
    );
  });
  const layers = await ctx.work.all(pending);

  const kept = layers.every((l) => l.kept);
  let manifest: { digest: string; size: number };
  if (kept) {
    manifest = await sink.writeBlob(origBytes, orig.mediaType);
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
    manifest = await sink.writeBlob(jsonBytes(raw), orig.mediaType);
  }
  return { orig, ...manifest, kept, config: image.manifest.config.digest, layers };
}

/**
 * Reads and checks a layer's index root, then has the sink restore it.
 * @param where - the layer, for errors.
 */
async function restoreOne(
  { layout, sink }: RestoreContext,
  rootDesc: Descriptor,
  record: OciLayerRecord,
  where: string,
  signal: AbortSignal,
): Promise<OciRestoredLayer> {
  const rootBytes = await layout.readBlob(rootDesc, MAX_ROOT_BLOB);
  const { end } = decodeRoot(rootBytes);
  if (formatDigest(end.diffId) !== record.diffId) {
    throw new OciDigestError(rootDesc.digest, `root's diff_id differs from ${record.diffId}`);
  }
  if (
    record.compression === 'none' &&
    (record.digest !== record.diffId || record.size !== end.size)
  ) {
    throw new OciFormatError(where, 'an uncompressed layer whose digest or size is not its tar');
  }
  return sink.layer({ rootDescriptor: rootDesc, rootBytes, end, record }, signal);
}

/** What {@link restoreEntry} works with, shared by every entry of one restore. */
interface RestoreContext {
  layout: LayoutReader;
  sink: RestoreSink;
  /** The layers' restores: at most `sink.concurrency` at once, failing as one. */
  work: WorkGroup;
  /**
   * Layers restored or being restored, by their original digest: the diff_id the first
   * manifest listing it names, and its restore.
   */
  restored: Map<string, { diffId: string; done: Promise<OciRestoredLayer> }>;
  /** Manifests restored so far, by the chunked manifest's digest. */
  manifests: Map<string, RestoredManifest>;
  report: OciRestoreReport;
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
  const ref = (m: Descriptor) => m.annotations?.[REF_NAME_ANNOTATION];
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
