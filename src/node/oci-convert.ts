/**
 * `convertLayout`: an OCI image layout in, its chunked form out (docs/OCI.md): every layer
 * converted into one chunk store, a new layout whose layer descriptors point at index roots,
 * with what restoring needs recorded in annotations. Also `flattenImage`: an image's layers
 * merged into one plain tar.
 *
 * @module
 */
import { boundedTee } from '../bounded-tee.js';
import { readHead, streamOfBytes } from '../bytes-stream.js';
import {
  OciDigestError,
  OciFormatError,
  OciLimitError,
  OciMediaTypeError,
  OciPlatformError,
} from '../errors.js';
import { decodeRoot } from '../format/root.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import {
  ANNOTATIONS,
  jsonBytes,
  layerAnnotations,
  MAX_ROOT_BLOB,
  type OciLayerRecord,
} from '../oci/chunked.js';
import {
  type DeflateEngine,
  findGzipParams,
  GZIP_PROBE_BYTES,
  type GzipSearchResult,
  probeGzipParams,
  verifyGzipParams,
} from '../oci/gzip-reproduce.js';
import type { LayoutReader } from '../oci/layout-reader.js';
import {
  isArtifact,
  isIndexMediaType,
  LAYERDIFF_ROOT,
  layerCompression,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../oci/media-types.js';
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isForPlatform,
  type OciLimits,
  platformOf,
} from '../oci/parse.js';
import { convert } from '../pipeline/convert.js';
import { type FlattenOptions, flatten } from '../pipeline/flatten.js';
import type { ChunkReader, ChunkStore } from '../store/types.js';
import { stopOnAbort, WorkGroup } from '../work-group.js';
import { defaultDeflateEngines } from './deflate.js';
import { nodeGunzip } from './gunzip.js';
import { layerHashing, nodeHashProvider } from './hash.js';
import { type Image, LayoutWriter, OciLayout } from './oci-layout.js';
import { offThreadDeflate } from './off-thread-deflate.js';

export { MAX_ROOT_BLOB };

/** Options of {@link convertLayout}. */
export interface OciConvertOptions {
  /** The chunk store every layer goes into. */
  store: ChunkStore;
  /** Where the chunked layout is written; must not exist. */
  out: string;
  /** Only the manifest with this tag (`org.opencontainers.image.ref.name`). @default every manifest */
  ref?: string;
  /**
   * Hashing. @default nodeHashProvider(), with the worker thread except for zstd layers
   * (`nodeHashOptionsFor`; the idle worker is then stopped)
   */
  hash?: HashProvider;
  /** Engines tried to reproduce gzip layers. @default defaultDeflateEngines() */
  engines?: DeflateEngine[];
  /** Try to reproduce gzip layers at all. @default true */
  reproduceGzip?: boolean;
  /**
   * Check a gzip layer's candidate over the whole blob on a worker thread
   * (`offThreadDeflate`), beside the conversion on this one, rather than on this thread. The
   * short tries of every candidate against the blob's start stay on this thread.
   * @default true
   */
  deflateThreads?: boolean;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
  /**
   * Of multi-platform images, only the images for this platform (`os/arch[/variant]`;
   * `os/arch` takes every variant), with the artifacts that refer to them (attestations).
   * The others are left out of the chunked layout, so restore cannot give back the original
   * index: it writes one that lists what was kept. @default every platform
   */
  platform?: string;
  /**
   * Layers converted at once, started in each image's order (for a registry, as docker pulls
   * several at once). When one fails, the others' blobs are cancelled at once, before the
   * conversion fails. @default 1
   */
  concurrency?: number;
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
  /** The tag of its entry in `index.json`. */
  ref?: string;
  /** The nested index (multi-platform image) that lists it, when one does: its digest. */
  index?: string;
  /** The platform its descriptor names (`os/arch[/variant]`). */
  platform?: string;
  /**
   * True for an artifact (no layer of an image layer family: an attestation, a signature),
   * copied as it is with its config and blobs; `chunkedDigest` is then its own.
   */
  copied?: boolean;
  /** The original manifest's digest. */
  digest: string;
  /** The chunked manifest's digest. */
  chunkedDigest: string;
  layers: OciConvertedLayer[];
}

/** What {@link convertLayout} did. */
export interface OciConvertReport {
  manifests: OciConvertedManifest[];
  /** Entries of nested indexes left out for {@link OciConvertOptions.platform}. */
  leftOut: Array<{ index: string; digest: string; platform?: string }>;
}

/**
 * A blob's bytes, erroring as soon as there are more than its descriptor's size: a source that
 * never ends (a hostile registry, a file still being written) is not converted for ever.
 */
function atMost(
  blob: ReadableStream<Uint8Array>,
  d: { digest: string; size: number },
): ReadableStream<Uint8Array> {
  let seen = 0;
  return blob.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.length;
        if (seen > d.size) {
          throw new OciDigestError(d.digest, `more than the descriptor's ${d.size} bytes`);
        }
        controller.enqueue(chunk);
      },
    }),
  );
}

/** Bytes the conversion may read ahead of the gzip check beside it. */
const MAX_CONVERT_LEAD = 4 << 20;

/**
 * Starts the search for a gzip layer's compression, so that the blob is read once: the
 * candidates are tried against its first MiB in memory, and the one that agrees (if any) is
 * checked over the rest beside the conversion, which gets `blob` (the same bytes).
 */
async function probeGzip(
  source: ReadableStream<Uint8Array>,
  options: { engines: DeflateEngine[]; threads: boolean },
): Promise<{
  blob: ReadableStream<Uint8Array>;
  head: Uint8Array;
  verdict: Promise<GzipSearchResult & { retry?: boolean }>;
  stop: AbortController;
}> {
  const stop = new AbortController();
  const { head, complete, whole } = await readHead(source, GZIP_PROBE_BYTES);
  let probe: Awaited<ReturnType<typeof probeGzipParams>>;
  try {
    probe = await probeGzipParams(head, complete, {
      engines: options.engines,
      gunzip: nodeGunzip(),
    });
  } catch (err) {
    await whole.cancel(err).catch(() => {});
    throw err;
  }
  const { params, engine, tried } = probe;
  if (!params || !engine || probe.verified) {
    const verdict = params ? { params, tried } : { tried, reason: probe.reason };
    return { blob: whole, head, verdict: Promise.resolve(verdict), stop };
  }
  // The conversion waits when it is 4 MiB ahead; the check's copies keep lent buffers apart.
  const [blob, beside] = boundedTee(whole, {
    maxLead: MAX_CONVERT_LEAD,
    overflow: 'wait',
    copySecond: true,
  });
  // A check that fails in any way (an engine that throws) is a candidate that failed.
  const checker = options.threads ? offThreadDeflate(engine) : engine;
  const verdict = verifyGzipParams(beside, params, checker, {
    gunzip: nodeGunzip(),
    signal: stop.signal,
  }).then(
    (ok) => (ok ? { params, tried } : { tried, retry: true }),
    () => ({ tried, retry: true }),
  );
  return { blob, head, verdict, stop };
}

/** Refuses a converted layer whose digest, size, compression or diff_id is not the expected. */
function checkConverted(
  result: Awaited<ReturnType<typeof convert>['done']>,
  d: Descriptor,
  diffId: string,
  compression: string,
): void {
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
}

/**
 * Converts one layer blob; checks its digest, size, compression and diff_id.
 * @param signal - aborted when the conversion failed elsewhere: the blob's reads then fail.
 */
async function convertLayer(
  layout: LayoutReader,
  d: Descriptor,
  diffId: string,
  options: {
    store: ChunkStore;
    /** The caller's; when absent, chosen per layer: `layerHashing` for zstd. */
    hash: HashProvider | undefined;
    engines: DeflateEngine[];
    reproduce: boolean;
    threads: boolean;
  },
  signal?: AbortSignal,
): Promise<{ root: Uint8Array; layer: Omit<OciConvertedLayer, 'root'> }> {
  const compression = layerCompression(d.mediaType)!;
  const open = () => {
    const blob = atMost(layout.openBlob(d.digest), d);
    return signal ? stopOnAbort(blob, signal) : blob;
  };
  let blob = open();
  let hash = options.hash;
  // Only a zstd layer may be hashed otherwise (see `nodeHashOptionsFor`): no other is read
  // ahead for it.
  if (!hash && compression === 'zstd') ({ layer: blob, hash } = await layerHashing(blob));
  hash ??= nodeHashProvider();
  const gzip =
    compression === 'gzip' && options.reproduce ? await probeGzip(blob, options) : undefined;
  if (gzip) blob = gzip.blob;
  let result: Awaited<ReturnType<typeof convert>['done']>;
  const rootParts: Uint8Array[] = [];
  try {
    const { index, done } = convert(blob, {
      store: options.store,
      hash,
      gunzip: nodeGunzip(),
    });
    const reader = index.getReader();
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rootParts.push(r.value);
    }
    result = await done;
    checkConverted(result, d, diffId, compression);
  } catch (err) {
    gzip?.stop.abort();
    throw err;
  }
  const root = Buffer.concat(rootParts);
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
    if (gzip) {
      let found = await gzip.verdict;
      if (found.retry) {
        // The candidate that agreed with the blob's start failed further on: search on from
        // the next; each that agrees with the start is checked by reading the blob again.
        found = await findGzipParams(open, {
          engines: options.engines,
          gunzip: nodeGunzip(),
          hash,
          digest: d.digest,
          skip: found.tried,
          head: gzip.head,
          ...(signal ? { signal } : {}),
        });
      }
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
 * original configs, the original manifests, nested indexes and `index.json` (as blobs, for
 * restoring them byte for byte), one chunked manifest per image whose layers are index roots
 * ({@link LAYERDIFF_ROOT}) annotated with what restoring needs, one chunked index per nested
 * index (a multi-platform image: every platform is converted), and a chunked `index.json`.
 * A manifest none of whose layers is of an image layer family (an artifact: an attestation, a
 * signature) is copied as it is, with its config and blobs. Gzip layers are tried against the
 * given engines (see `findGzipParams`).
 *
 * Every blob read is checked against its descriptor (digest and size) and every layer's
 * diff_id against the config. On any failure nothing is left at `options.out`.
 *
 * @param src - the layout's directory, or a layout read some other way (`registryLayout`:
 * an image in a registry).
 * @param options - store, output, tag and engines (`limits` apply to a directory only).
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
  src: string | LayoutReader,
  options: OciConvertOptions,
): Promise<OciConvertReport> {
  const layout = typeof src === 'string' ? await OciLayout.open(src, options.limits) : src;
  // Read and check every index, manifest and config, and every layer's media type and
  // presence, before converting anything.
  const read: Planning = { plans: new Map(), held: 0 };
  const plans: Plan[] = [];
  for (const d of layout.select(options.ref)) {
    plans.push(await planOf(layout, d, 0, read, options.platform));
  }

  const writer = await LayoutWriter.create(options.out);
  try {
    const ctx: ConvertContext = {
      layout,
      writer,
      store: options.store,
      hash: options.hash,
      engines: options.engines ?? defaultDeflateEngines(),
      reproduce: options.reproduceGzip !== false,
      threads: options.deflateThreads !== false,
      platform: options.platform,
      layers: new Map(),
      work: new WorkGroup(options.concurrency ?? 1),
      written: new Map(),
      report: { manifests: [], leftOut: [] },
    };
    const descriptors: Record<string, unknown>[] = [];
    for (const plan of plans) {
      const ref = plan.descriptor.annotations?.['org.opencontainers.image.ref.name'];
      descriptors.push(await writePlan(ctx, plan, ref === undefined ? {} : { ref }));
    }
    const original = await writer.writeBlob(layout.indexBytes);
    const chunkedIndex = jsonBytes({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: descriptors,
      annotations: {
        [ANNOTATIONS.indexDigest]: original.digest,
        [ANNOTATIONS.indexSize]: String(original.size),
        ...(layout.files.source !== undefined ? { [ANNOTATIONS.source]: layout.files.source } : {}),
      },
    });
    await writer.writeTop(
      'index.json',
      withinLimit(chunkedIndex, layout.limits.index, 'the chunked index.json'),
    );
    await writer.writeTop('oci-layout', layout.layoutFile);
    await writer.commit();
    return ctx.report;
  } catch (err) {
    await writer.discard();
    throw err;
  }
}

/** What convert does with one entry of an index, decided (and checked) before it starts. */
type Plan =
  | { kind: 'image'; descriptor: Descriptor; image: Image }
  | { kind: 'copy'; descriptor: Descriptor; bytes: Uint8Array; manifest: ImageManifest }
  | {
      kind: 'index';
      descriptor: Descriptor;
      bytes: Uint8Array;
      index: ImageIndex;
      children: Plan[];
      /** Entries left out, for another platform. */
      leftOut: Descriptor[];
    };

/** What planning has read: each entry's plan by digest, and the JSON bytes they hold. */
interface Planning {
  plans: Map<string, Plan>;
  held: number;
}

/**
 * Reads and checks an entry of an index: a nested index with its entries, a manifest of tar
 * layers with its config, or an artifact's manifest, copied as it is. Each blob is
 * read once (`read`): an index may list one many times.
 * @throws {@link OciLimitError} when what planning holds passes the layout's `total` limit.
 */
async function planOf(
  layout: LayoutReader,
  d: Descriptor,
  depth: number,
  read: Planning,
  platform: string | undefined,
): Promise<Plan> {
  const hold = (bytes: number) => {
    read.held += bytes;
    if (read.held > layout.limits.total) {
      throw new OciLimitError(
        `${d.digest}: the indexes, manifests and configs of this conversion pass ${layout.limits.total} bytes`,
      );
    }
  };
  const seen = read.plans.get(d.digest);
  if (seen && seen.descriptor.size === d.size && seen.descriptor.mediaType === d.mediaType) {
    return { ...seen, descriptor: d };
  }
  let plan: Plan;
  if (isIndexMediaType(d.mediaType)) {
    const { bytes, index } = await layout.readIndex(d, depth);
    hold(bytes.length);
    const entries = platform === undefined ? index.manifests : forPlatform(index, platform, d);
    const children: Plan[] = [];
    for (const c of entries) children.push(await planOf(layout, c, depth + 1, read, platform));
    const leftOut = index.manifests.filter((c) => !entries.includes(c));
    plan = { kind: 'index', descriptor: d, bytes, index, children, leftOut };
  } else {
    const manifestRead = await layout.readManifest(d);
    const { bytes, manifest } = manifestRead;
    hold(bytes.length);
    if (isArtifact(manifest.layers.map((l) => l.mediaType))) {
      for (const x of [manifest.config, ...manifest.layers]) await layout.checkBlob(x);
      plan = { kind: 'copy', descriptor: d, bytes, manifest };
    } else {
      const image = await layout.readImage(d, manifestRead);
      hold(image.configBytes.length);
      for (const layer of image.manifest.layers) {
        if (layerCompression(layer.mediaType) === undefined) {
          throw new OciMediaTypeError(layer.mediaType, `${d.digest}: unsupported layer media type`);
        }
        await layout.checkBlob(layer);
      }
      plan = { kind: 'image', descriptor: d, image };
    }
  }
  read.plans.set(d.digest, plan);
  return plan;
}

/**
 * The entries of an index to convert for one platform: nested indexes, the manifests for the
 * platform, and the artifacts that refer to those (`vnd.docker.reference.digest`, as buildx
 * writes attestations).
 * @throws {@link OciPlatformError} when no manifest of the index is for the platform.
 */
function forPlatform(index: ImageIndex, platform: string, d: Descriptor): Descriptor[] {
  const own = index.manifests.filter((c) => isForPlatform(c, platform));
  const nested = index.manifests.filter((c) => isIndexMediaType(c.mediaType));
  if (own.length === 0 && nested.length === 0) {
    const offered = index.manifests.map((c) => platformOf(c) ?? 'unknown');
    throw new OciPlatformError(platform, offered, 0, d.digest);
  }
  const kept = new Set(own.map((c) => c.digest));
  return index.manifests.filter(
    (c) =>
      kept.has(c.digest) ||
      isIndexMediaType(c.mediaType) ||
      kept.has(c.annotations?.['vnd.docker.reference.digest'] ?? ''),
  );
}

/** What {@link writePlan} works with, shared by every entry of one conversion. */
interface ConvertContext {
  layout: LayoutReader;
  writer: LayoutWriter;
  store: ChunkStore;
  /** The caller's hashing; when absent, each layer's is chosen (`convertLayer`). */
  hash: HashProvider | undefined;
  engines: DeflateEngine[];
  reproduce: boolean;
  /** Whether the whole-blob gzip check runs on a worker thread. */
  threads: boolean;
  /** The platform kept of multi-platform images, when not all. */
  platform: string | undefined;
  /** Layers converted or being converted, by their blob's digest. */
  layers: Map<
    string,
    Promise<{ root: { digest: string; size: number }; layer: OciConvertedLayer }>
  >;
  /** The layers' conversions: at most `concurrency` at once, failing as one. */
  work: WorkGroup;
  /**
   * Chunked blobs written so far, by what the original was read as and its digest (a blob
   * listed once as a manifest and once as an index is read as each).
   */
  written: Map<string, { digest: string; size: number; layers: OciConvertedLayer[] }>;
  report: OciConvertReport;
}

/**
 * Writes the chunked form of one entry (and of every entry of a nested index), adds its
 * manifests to the report, and returns the entry's descriptor in the chunked parent index.
 */
async function writePlan(
  ctx: ConvertContext,
  plan: Plan,
  via: { ref?: string; index?: string },
): Promise<Record<string, unknown>> {
  const d = plan.descriptor;
  const platform = platformOf(d);
  const where = { ...via, ...(platform !== undefined ? { platform } : {}) };
  const { mediaType: _t, digest: _d, size: _s, ...rest } = d.raw;
  const key = `${plan.kind} ${d.digest}`;
  if (plan.kind === 'copy') {
    if (!ctx.written.has(key)) {
      await ctx.writer.writeBlob(plan.bytes);
      for (const x of [plan.manifest.config, ...plan.manifest.layers]) {
        await ctx.writer.copyFrom(ctx.layout, x);
      }
      ctx.written.set(key, { digest: d.digest, size: d.size, layers: [] });
    }
    ctx.report.manifests.push({
      ...where,
      digest: d.digest,
      chunkedDigest: d.digest,
      copied: true,
      layers: [],
    });
    return d.raw;
  }
  if (plan.kind === 'index') {
    // Entries written before (listed again, under another tag or in another index) are
    // reported again and written once.
    const manifests: Record<string, unknown>[] = [];
    for (const c of plan.children) {
      manifests.push(await writePlan(ctx, c, { ...via, index: d.digest }));
    }
    for (const c of plan.leftOut) {
      const p = platformOf(c);
      ctx.report.leftOut.push({ index: d.digest, digest: c.digest, ...(p ? { platform: p } : {}) });
    }
    let chunked = ctx.written.get(key);
    if (!chunked) {
      await ctx.writer.writeBlob(plan.bytes);
      const bytes = jsonBytes({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests,
        annotations: {
          ...plan.index.annotations,
          [ANNOTATIONS.indexDigest]: d.digest,
          [ANNOTATIONS.indexSize]: String(d.size),
          [ANNOTATIONS.indexMediaType]: d.mediaType,
          ...(plan.leftOut.length > 0 && ctx.platform !== undefined
            ? { [ANNOTATIONS.indexPlatform]: ctx.platform }
            : {}),
        },
      });
      const w = await ctx.writer.writeBlob(
        withinLimit(bytes, ctx.layout.limits.index, 'a chunked image index'),
      );
      chunked = { ...w, layers: [] };
      ctx.written.set(key, chunked);
    }
    return {
      ...rest,
      mediaType: OCI_INDEX,
      digest: chunked.digest,
      size: chunked.size,
      annotations: { ...d.annotations, [ANNOTATIONS.indexDigest]: d.digest },
    };
  }
  let chunked = ctx.written.get(key);
  let layers: OciConvertedLayer[];
  if (chunked) {
    // Converted for an earlier entry: nothing new in the store this time.
    layers = chunked.layers.map((l) => ({ ...l, newChunks: 0, newBytes: 0 }));
  } else {
    layers = await convertImage(ctx, plan.image);
    chunked = { ...(await writeChunkedManifest(ctx, plan.image, layers)), layers };
    ctx.written.set(key, chunked);
  }
  ctx.report.manifests.push({ ...where, digest: d.digest, chunkedDigest: chunked.digest, layers });
  return {
    ...rest,
    mediaType: OCI_MANIFEST,
    digest: chunked.digest,
    size: chunked.size,
    annotations: { ...d.annotations, [ANNOTATIONS.manifestDigest]: d.digest },
  };
}

/**
 * Converts an image's layers, each blob once per conversion (`ctx.layers`), `ctx.work`'s
 * bound at once.
 */
async function convertImage(ctx: ConvertContext, image: Image): Promise<OciConvertedLayer[]> {
  const pending = image.manifest.layers.map(async (d, i) => {
    const earlier = ctx.layers.get(d.digest);
    let layer: OciConvertedLayer;
    if (!earlier) {
      const converting = ctx.work.run(async (signal) => {
        const { root, layer } = await convertLayer(ctx.layout, d, image.diffIds[i]!, ctx, signal);
        const written = await ctx.writer.writeBlob(root);
        return { root: written, layer: { ...layer, root: written } };
      });
      ctx.layers.set(d.digest, converting);
      layer = (await converting).layer;
    } else {
      const entry = await earlier;
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
      layer = { ...entry.layer, mediaType: d.mediaType, newChunks: 0, newBytes: 0 };
    }
    if (layer.diffId !== image.diffIds[i]) {
      throw new OciDigestError(d.digest, `the config's diff_id is ${image.diffIds[i]}`);
    }
    return layer;
  });
  return ctx.work.all(pending);
}

/**
 * Writes an image's original manifest and config, and its chunked manifest: the layers'
 * roots, annotated with what restoring needs.
 */
async function writeChunkedManifest(
  ctx: ConvertContext,
  image: Image,
  layers: OciConvertedLayer[],
): Promise<{ digest: string; size: number }> {
  await ctx.writer.writeBlob(image.bytes);
  await ctx.writer.writeBlob(image.configBytes);
  const chunked = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: image.manifest.config.raw,
    layers: layers.map((l) => ({
      mediaType: LAYERDIFF_ROOT,
      digest: l.root.digest,
      size: l.root.size,
      annotations: layerAnnotations(l),
    })),
    annotations: {
      [ANNOTATIONS.manifestDigest]: image.descriptor.digest,
      [ANNOTATIONS.manifestSize]: String(image.descriptor.size),
      [ANNOTATIONS.manifestMediaType]: image.descriptor.mediaType,
    },
  };
  return ctx.writer.writeBlob(
    withinLimit(jsonBytes(chunked), ctx.layout.limits.manifest, 'a chunked manifest'),
  );
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
  /**
   * The platform (`os/arch[/variant]`) of a multi-platform image; may be left out when the
   * image is for one platform only.
   */
  platform?: string;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
}

/**
 * Merges an image's layers into one plain tar (see `flatten`). The layout may be a chunked
 * layout (its roots are read from the layout, their chunks from the store) or a plain one
 * (each layer is converted into the store first, checked against its digest and diff_id;
 * without `hash`, each layer's hashing is chosen as `convertLayout` chooses it).
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
  const image = await layout.readImage(await layout.selectImage(options.ref, options.platform));
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
      hash: options.hash,
      engines: [],
      reproduce: false,
      threads: false,
    });
    roots.push(root);
  }
  return flatten(
    roots.map((bytes) => () => streamOfBytes(bytes)),
    options.store as ChunkReader,
    { ...options, hash },
  );
}
