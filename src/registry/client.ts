/**
 * An image in a registry read as an OCI layout: `registryLayout` gives a {@link LayoutReader}
 * whose `index.json` lists the one image a reference names, and whose blobs are fetched over
 * the OCI distribution API (`GET /v2/<name>/manifests/<ref>`, `GET|HEAD
 * /v2/<name>/blobs/<digest>`) as they are asked for. So `convertLayout` pulls an image
 * straight into a chunk store, each layer streamed from the registry into the converter.
 *
 * Everything a registry answers is hostile input: manifests are read up to the layout limits
 * and checked against their digests (the one asked for, and the `Docker-Content-Digest` the
 * registry gives), and errors are typed ({@link RegistryError}, naming the URL and status).
 * Authentication is the session's (`./session.ts`): anonymous, or with the credentials given
 * ({@link RegistrySessionOptions.credentials}).
 *
 * @module
 */
import { readBytes, streamOfBytes } from '../bytes-stream.js';
import { OciBlobNotFoundError, OciDigestError, OciLimitError, RegistryError } from '../errors.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { type LayoutFiles, LayoutReader } from '../oci/layout-reader.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../oci/media-types.js';
import type { OciLimits } from '../oci/parse.js';
import { type ImageReference, parseImageReference } from './names.js';
import { type Answer, openSession, pause, type RegistrySessionOptions } from './session.js';

/** Times a blob's body is resumed at most, in all. */
const MAX_RESUMES = 10;

/** Options of {@link registryLayout}. */
export interface RegistryLayoutOptions extends RegistrySessionOptions {
  /** Hashing of manifests and other blobs read whole. @default webHashProvider() */
  hash?: HashProvider;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
}

/**
 * Reads an image of a registry as a layout of that one image (tagged as the reference's tag).
 * @param reference - `host[:port]/repository[:tag][@digest]`, or its parts.
 * @param options - scheme, fetch, hashing and limits.
 * @returns the layout, its `index.json` read (the manifest fetched and checked).
 * @throws {@link RegistryError}, {@link OciDigestError}, {@link OciLimitError}, or what the
 * layout reader throws for a malformed manifest.
 */
export async function registryLayout(
  reference: string | ImageReference,
  options: RegistryLayoutOptions = {},
): Promise<LayoutReader> {
  const ref = typeof reference === 'string' ? parseImageReference(reference) : reference;
  const hash = options.hash ?? webHashProvider();
  const sha256 = async (bytes: Uint8Array) => formatDigest(await hash.digest(bytes));

  const { base, authed, retries, retryDelayMs } = openSession(ref, 'pull', options);
  /** A whole body, refused past `limit` bytes. */
  const body = (res: Answer, url: string, limit: number) => {
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    const over = () => new OciLimitError(`${url}: more than the limit of ${limit} bytes`);
    if (length > limit) {
      res.close();
      throw over();
    }
    return readBytes(res.body ?? streamOfBytes(new Uint8Array(0)), limit, over);
  };
  /** Manifests read so far, by digest (the one the reference names is read first). */
  const manifests = new Map<string, Uint8Array>();
  /** Fetches a manifest; checks it against `digest` and the registry's digest header. */
  const manifest = async (name: string, limit: number, digest?: string) => {
    const url = `${base}/manifests/${name}`;
    const res = await authed(url);
    if (res.status === 404) {
      res.close();
      if (digest) throw new OciBlobNotFoundError(digest);
      throw new RegistryError(url, 404, `no manifest ${name} in ${ref.repository}`);
    }
    const bytes = await body(res, url, limit);
    const actual = await sha256(bytes);
    const said = res.headers.get('docker-content-digest');
    if (said !== null && said !== actual) {
      throw new OciDigestError(said, `the registry's manifest hashes to ${actual}`);
    }
    if (digest !== undefined && actual !== digest) {
      throw new OciDigestError(digest, `the registry's manifest hashes to ${actual}`);
    }
    manifests.set(actual, bytes);
    const type = res.headers.get('content-type')?.split(';')[0]?.trim();
    return { bytes, digest: actual, mediaType: type || mediaTypeOf(bytes) };
  };
  /** A blob's response, or its absence as {@link OciBlobNotFoundError}. */
  const blob = async (
    digest: string,
    method = 'GET',
    headers: Record<string, string> = {},
    signal?: AbortSignal,
  ) => {
    const res = await authed(`${base}/blobs/${digest}`, {
      method,
      headers,
      ...(signal ? { signal } : {}),
    });
    if (res.status === 404) {
      res.close();
      throw new OciBlobNotFoundError(digest);
    }
    return res;
  };

  const files: LayoutFiles = {
    source: `${ref.registry}/${ref.repository}`,
    async readTop(name, limit) {
      if (name === 'oci-layout') return new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}');
      const top = await manifest(ref.digest ?? ref.tag ?? 'latest', limit, ref.digest);
      const index = {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: top.mediaType,
            digest: top.digest,
            size: top.bytes.length,
            ...(ref.tag !== undefined
              ? { annotations: { 'org.opencontainers.image.ref.name': ref.tag } }
              : {}),
          },
        ],
      };
      return new TextEncoder().encode(JSON.stringify(index));
    },
    async statBlob(d) {
      if (manifests.has(d.digest)) return;
      const res = await blob(d.digest, 'HEAD');
      // Only the headers are wanted: the connection goes too, however the answer goes on.
      res.close();
      const length = res.headers.get('content-length');
      if (length !== null && Number(length) !== d.size) {
        throw new OciDigestError(d.digest, `the registry says ${length} bytes, not ${d.size}`);
      }
    },
    async readBlob(d, limit) {
      const held = manifests.get(d.digest);
      if (held) return held;
      const type = d.mediaType ?? '';
      if (isManifestMediaType(type) || isIndexMediaType(type)) {
        return (await manifest(d.digest, limit, d.digest)).bytes;
      }
      return body(await blob(d.digest), `${base}/blobs/${d.digest}`, limit);
    },
    openBlob: (digest) => resumableBlob(digest),
  };

  /**
   * A blob's body that, when it breaks off, is asked for again from where it stopped (`Range:
   * bytes=<n>-`): up to `retries` times in a row without a byte further, and
   * {@link MAX_RESUMES} times in all. A registry that answers a range with the whole blob has
   * what was given read again and dropped. What comes out is checked against the blob's digest
   * by whoever reads it, as before.
   */
  const resumableBlob = (digest: string) => {
    const url = `${base}/blobs/${digest}`;
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    /** Bytes given so far. */
    let given = 0;
    /** Bytes of a whole answer to a range still to drop. */
    let skip = 0;
    let failures = 0;
    let resumes = 0;
    /** Aborted when the stream is cancelled: a request under way, or a pause, ends with it. */
    const cancelled = new AbortController();
    const open = async () => {
      const range = given > 0 ? { range: `bytes=${given}-` } : undefined;
      const res = await blob(digest, 'GET', range, cancelled.signal);
      if (!res.body) throw new RegistryError(url, res.status, 'no body');
      if (given === 0 && res.status === 206) {
        res.close();
        throw new RegistryError(url, 206, 'sent part of the blob (206) when asked for all of it');
      }
      if (given > 0 && res.status === 206) {
        const said = res.headers.get('content-range') ?? '';
        const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(said);
        if (!m || Number(m[1]) !== given) {
          res.close();
          throw new RegistryError(
            url,
            206,
            `asked from byte ${given}, sent ${JSON.stringify(said)}`,
          );
        }
        // What an earlier whole answer still had to drop is past: this one starts at `given`.
        skip = 0;
      } else {
        skip = given;
      }
      reader = res.body.getReader();
    };
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          for (;;) {
            if (!reader) await open();
            let r: ReadableStreamReadResult<Uint8Array>;
            try {
              r = await reader!.read();
            } catch (err) {
              reader = undefined;
              if (++failures > retries || ++resumes > MAX_RESUMES) {
                if (err instanceof RegistryError) throw err;
                const why = (err as Error)?.message ?? String(err);
                throw new RegistryError(url, undefined, `broke off after ${given} bytes: ${why}`, {
                  cause: err,
                });
              }
              await pause(retryDelayMs * 2 ** (failures - 1), cancelled.signal);
              continue;
            }
            if (r.done) {
              if (skip > 0) throw new RegistryError(url, 200, 'sent less than it had sent before');
              controller.close();
              return;
            }
            let bytes = r.value;
            if (skip > 0) {
              const n = Math.min(skip, bytes.length);
              skip -= n;
              bytes = bytes.subarray(n);
              if (bytes.length === 0) continue;
            }
            given += bytes.length;
            failures = 0;
            controller.enqueue(bytes);
            return;
          }
        },
        cancel: (reason) => {
          cancelled.abort(reason);
          return reader?.cancel(reason).catch(() => {});
        },
      },
      { highWaterMark: 0 },
    );
  };
  return LayoutReader.fromFiles(files, {
    hash,
    ...(options.limits ? { limits: options.limits } : {}),
  });
}

/** The `mediaType` a manifest's JSON names, for a registry that gives no `Content-Type`. */
function mediaTypeOf(bytes: Uint8Array): string {
  try {
    const v = JSON.parse(new TextDecoder().decode(bytes)) as { mediaType?: unknown };
    if (typeof v.mediaType === 'string') return v.mediaType;
  } catch {
    // The layout reader says what is wrong with it.
  }
  return OCI_MANIFEST;
}
