/**
 * `pushImage`: an image of a chunked layout, restored straight into a registry. The walk is
 * `oci restore`'s (`planRestore`): every config and diff_id kept, a gzip layer recompressed
 * where its parameters were recorded and kept only under its original digest, anything else
 * uncompressed under a new manifest. Each blob goes up as it is made (`uploadBlob`: one `PUT`,
 * or `PATCH` parts and a `PUT`; resumed when it breaks off), after a `HEAD` that skips it when
 * the registry has it already: a layer the registry holds is not even rebuilt. One that
 * another repository of the registry has is mounted from there. Manifests go up by digest,
 * children before the index that lists them, and the image last under the tag.
 *
 * Layers go up `maxUploads` at once (3 by default), as docker's and skopeo's pushes do.
 * Nothing is held whole but manifests and configs: layers stream from the chunk store through
 * the gzip encoder into the request body, hashed on the way, its last piece held back until
 * the digest and size are known. A blob that does not come out as expected is cut off before
 * that piece, so the registry never completes it (and checks the digest named in the `PUT`
 * itself).
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import {
  OciDigestError,
  OciFormatError,
  RegistryAuthError,
  RegistryError,
  UsageError,
} from '../errors.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { ANNOTATIONS } from '../oci/chunked.js';
import { coreDeflateEngines, type DeflateEngine } from '../oci/gzip-reproduce.js';
import type { LayoutReader } from '../oci/layout-reader.js';
import { type ExpectedBlobWriter, restoreLayer } from '../oci/restore-layer.js';
import { type OciRestoreReport, planRestore } from '../oci/restore-plan.js';
import type { ChunkReader } from '../store/types.js';
import { TurnsByKey } from '../work-group.js';
import { uploadBlob } from './blob-upload.js';
import { type ImageReference, parseImageReference, registryApiHost } from './names.js';
import { type Answer, openSession, type RegistrySessionOptions } from './session.js';

/** Options of {@link pushImage}. */
export interface PushImageOptions extends RegistrySessionOptions {
  /** The chunk store the layers were converted into. */
  store: ChunkReader;
  /** The image of the chunked layout to push, by tag; needed when it holds more than one. */
  ref?: string;
  /** Hashing. @default webHashProvider() */
  hash?: HashProvider;
  /** Engines available for recompressing gzip layers. @default coreDeflateEngines() */
  engines?: DeflateEngine[];
  /**
   * Upload blobs larger than this in `PATCH` requests of this many bytes, then a last `PUT`
   * (for registries behind proxies that limit the size of one request). @default one `PUT`
   */
  partSize?: number;
  /**
   * Repositories of the target registry to mount blobs from, where they have them (`POST
   * ...?mount=`): a blob mounted is not sent. The repository a chunked layout was pulled from
   * (`oci pull`) is one when it is on the target registry.
   */
  mountFrom?: string[];
  /**
   * Layers made and uploaded at once, started in the image's order. When one fails, the others
   * stop (their uploads deleted) before the push fails. @default 3
   */
  maxUploads?: number;
}

/** What {@link pushImage} did: `oci restore`'s report, and where the image went. */
export interface OciPushReport extends OciRestoreReport {
  /** `host/repository:tag`. */
  target: string;
  /** The digest and media type of what the tag names. */
  digest: string;
  mediaType: string;
  /** Blobs uploaded, and their bytes. */
  uploaded: number;
  uploadedBytes: number;
  /** Blobs the registry had already (not uploaded; a layer among them not even rebuilt). */
  present: number;
  /** How often an upload broke off and was resumed (the blob made again from its start). */
  resumed: number;
  /** Blobs mounted from another repository of the registry (not sent). */
  mounted: number;
}

/**
 * Restores one image of a chunked layout into a registry, under a tag.
 * @param layout - the chunked layout.
 * @param target - `host[:port]/repository[:tag]` (tag `latest` when none), or its parts.
 * @param options - the chunk store, the image (`ref`), scheme, credentials, hashing, engines.
 * @returns the restore report, the tag's digest, and what was uploaded.
 * @throws {@link UsageError} when the layout holds more than one image and `ref` names none,
 * or the target names a digest; {@link RegistryError} and {@link RegistryAuthError} for what the
 * registry refuses; typed OCI and chunk errors as `oci restore` throws them. The tag is
 * written last: a push that fails leaves it as it was.
 */
export async function pushImage(
  layout: LayoutReader,
  target: string | ImageReference,
  options: PushImageOptions,
): Promise<OciPushReport> {
  const to = typeof target === 'string' ? parseImageReference(target) : target;
  if (to.digest !== undefined) {
    throw new UsageError('push to a tag: a digest is what the registry computes');
  }
  const tag = to.tag ?? 'latest';
  const selected = layout.select(options.ref);
  if (selected.length !== 1) {
    throw new UsageError(
      `the chunked layout holds ${selected.length} images: name one by its tag (<layout>:<tag>)`,
    );
  }
  const hash = options.hash ?? webHashProvider();
  const engines = options.engines ?? coreDeflateEngines();
  const sources = mountSources(layout, to, options.mountFrom ?? []);
  const session = openSession(to, 'pull,push', options, sources);
  const { base, authed } = session;
  const origin = new URL(base).origin;
  const stats = { uploaded: 0, uploadedBytes: 0, present: 0, resumed: 0, mounted: 0 };
  const have = new Set<string>();
  /** One upload of a digest at a time. */
  const turns = new TurnsByKey();
  const manifests = new Map<string, { bytes: Uint8Array; mediaType: string }>();

  /** Whether the registry has a blob; the request ends with `signal`. */
  const has = async (digest: string, signal?: AbortSignal) => {
    if (have.has(digest)) return true;
    const url = `${base}/blobs/${digest}`;
    const res = await authed(url, { method: 'HEAD', ...(signal ? { signal } : {}) });
    res.close();
    if (res.status === 404) return false;
    if (res.status !== 200) throw new RegistryError(url, res.status, `answered ${res.status}`);
    have.add(digest);
    return true;
  };

  /**
   * The first of the mount sources that has a blob; a source the registry will not let the
   * account read is not asked again, and one whose `HEAD` fails otherwise is passed over.
   * The requests end with `signal` (its reason thrown).
   */
  const mountSource = async (digest: string, signal?: AbortSignal) => {
    for (const from of [...sources]) {
      const url = `${origin}/v2/${from}/blobs/${digest}`;
      let res: Answer;
      try {
        res = await authed(url, { method: 'HEAD', ...(signal ? { signal } : {}) });
      } catch (err) {
        if (!(err instanceof RegistryError)) throw err;
        // Not to be read by this account: not asked again. Failing otherwise: not for this blob.
        if (err instanceof RegistryAuthError) sources.splice(sources.indexOf(from), 1);
        continue;
      }
      res.close();
      if (res.status === 200) return { from };
    }
    return undefined;
  };

  /** A request whose answer must be `want`; any other is a typed error. */
  const expect = async (url: string, res: Answer, want: number, what: string) => {
    if (res.status === want) return res;
    res.close();
    throw new RegistryError(url, res.status, `answered ${res.status} to ${what}`);
  };

  /**
   * Uploads a blob unless the registry has it; see {@link ExpectedBlobWriter}. With `signal`
   * (a layer's), nothing starts once it is aborted, and the upload under way ends. A blob
   * already being uploaded (two layers whose fallbacks share a diff_id, uploaded at once) is
   * waited for, then found present; or uploaded again when that upload did not keep it.
   */
  const upload = async (
    open: () => ReadableStream<Uint8Array>,
    digest: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number; kept: boolean }> =>
    turns.run(digest, () => uploadOnce(open, digest, size, signal), signal);

  /** {@link upload}, with no other upload of `digest` under way. */
  const uploadOnce = async (
    open: () => ReadableStream<Uint8Array>,
    digest: string,
    size: number,
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number; kept: boolean }> => {
    signal?.throwIfAborted();
    if (await has(digest, signal)) {
      stats.present++;
      return { digest, size, kept: true };
    }
    const mount = await mountSource(digest, signal);
    signal?.throwIfAborted();
    const up = await uploadBlob(
      { session, hash, partSize: options.partSize, has, ...(signal ? { signal } : {}) },
      open,
      digest,
      size,
      mount,
    );
    stats.resumed += up.resumed;
    if (!up.kept) return up;
    have.add(digest);
    if (up.mounted) {
      stats.mounted++;
    } else {
      stats.uploaded++;
      stats.uploadedBytes += size;
    }
    return up;
  };

  /** Uploads a whole blob, or PUTs a manifest (by digest) when `mediaType` says it is one. */
  const writeBlob = async (bytes: Uint8Array, mediaType?: string) => {
    const digest = formatDigest(await hash.digest(bytes));
    if (mediaType === undefined) {
      await upload(() => streamOfBytes(bytes), digest, bytes.length);
    } else {
      manifests.set(digest, { bytes, mediaType });
      await putManifest(digest, bytes, mediaType, digest);
    }
    return { digest, size: bytes.length };
  };

  /** PUTs a manifest or index under `reference` (its digest, or the tag). */
  const putManifest = async (
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    digest: string,
  ) => {
    const url = `${base}/manifests/${reference}`;
    const res = await expect(
      url,
      await authed(url, {
        method: 'PUT',
        body: bytes as Uint8Array<ArrayBuffer>,
        headers: { 'content-type': mediaType },
      }),
      201,
      `the manifest ${digest}`,
    );
    res.close();
    const said = res.headers.get('docker-content-digest');
    if (said !== null && said !== digest) {
      throw new OciDigestError(digest, `the registry names the manifest it took ${said}`);
    }
  };

  const { report, index } = await planRestore(
    layout,
    {
      writeBlob,
      async copyBlob(d) {
        const w = await upload(() => layout.openBlob(d.digest), d.digest, d.size);
        if (!w.kept) {
          throw new OciDigestError(d.digest, `bytes hash to ${w.digest} (${w.size} bytes)`);
        }
      },
      layer: (layer, signal) =>
        restoreLayer(
          layer,
          {
            writeExpected: (open, digest, size) => upload(open, digest, size, signal),
          },
          { store: options.store, hash, engines },
        ),
      concurrency: options.maxUploads ?? 3,
    },
    options.ref,
  );
  const top = (JSON.parse(new TextDecoder().decode(index)) as { manifests: { digest: string }[] })
    .manifests[0]!;
  const image = manifests.get(top.digest)!;
  await putManifest(tag, image.bytes, image.mediaType, top.digest);
  return {
    ...report,
    target: `${to.registry}/${to.repository}:${tag}`,
    digest: top.digest,
    mediaType: image.mediaType,
    ...stats,
  };
}

/**
 * The repositories blobs may be mounted from: those given, then the one the chunked layout was
 * pulled from when it is on the target's registry; never the target itself.
 * @throws {@link UsageError} for a given name that is not a repository's;
 * {@link OciFormatError} for a layout whose source annotation is not `host/repository`.
 */
function mountSources(layout: LayoutReader, to: ImageReference, given: string[]): string[] {
  const names = given.map((name) => {
    if (/[:@]/.test(name))
      throw new UsageError(
        `mount from ${JSON.stringify(name)}: name a repository, without tag or digest`,
      );
    return parseImageReference(`${to.registry}/${name}`).repository;
  });
  const pulled = layout.index.annotations?.[ANNOTATIONS.source];
  if (pulled !== undefined) {
    let from: ImageReference | undefined;
    try {
      from = parseImageReference(pulled);
    } catch {
      from = undefined;
    }
    // As `oci pull` writes it: no tag, no digest, the repository as the registry names it.
    if (from === undefined || `${from.registry}/${from.repository}` !== pulled) {
      throw new OciFormatError(
        'index.json',
        `${ANNOTATIONS.source} ${JSON.stringify(pulled.slice(0, 300))} is not host/repository`,
      );
    }
    if (registryApiHost(from.registry) === registryApiHost(to.registry)) {
      names.push(from.repository);
    }
  }
  return [...new Set(names)].filter((r) => r !== to.repository);
}
