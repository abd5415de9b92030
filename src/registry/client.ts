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
 * Authentication: a registry that asks for a bearer token (as public registries do even for
 * anonymous pulls) gets one from the token service it names, asked anonymously or with the
 * credentials given ({@link RegistryLayoutOptions.credentials}); one that asks for HTTP Basic
 * gets the username and password. Tokens are renewed when a registry stops taking one. A
 * refusal is {@link RegistryAuthError}. Credentials go to an HTTPS registry's token service only
 * over HTTPS; a redirect to another origin (a blob store, a CDN) gets no `Authorization`, as
 * fetch drops it there.
 *
 * @module
 */
import { readBytes } from '../bytes-stream.js';
import {
  OciBlobNotFoundError,
  OciDigestError,
  OciLimitError,
  RegistryAuthError,
  RegistryError,
} from '../errors.js';
import { formatDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { type LayoutFiles, LayoutReader } from '../oci/layout-reader.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  isIndexMediaType,
  isManifestMediaType,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../oci/media-types.js';
import type { OciLimits } from '../oci/parse.js';
import {
  basicAuthorization,
  type CredentialSource,
  type RegistryCredentials,
} from './credentials.js';
import { type ImageReference, parseImageReference, registryApiHost } from './names.js';
import {
  type BearerChallenge,
  isBasicChallenge,
  parseBearerChallenge,
  tokenOf,
  tokenRequest,
} from './token.js';

/** Options of {@link registryLayout}. */
export interface RegistryLayoutOptions {
  /** Plain HTTP instead of HTTPS (a registry on 127.0.0.1, say). @default false */
  plainHttp?: boolean;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Hashing of manifests and other blobs read whole. @default webHashProvider() */
  hash?: HashProvider;
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
  /**
   * Credentials for a registry that asks for them, or where to get them (asked only then).
   * Without them, pulls are anonymous: a registry that asks for Bearer tokens gets an
   * anonymous one from its token service; one that asks for Basic credentials is refused
   * (`ERR_REGISTRY_AUTH`).
   */
  credentials?: RegistryCredentials | CredentialSource;
  /**
   * A request that waits this long for its answer, or for the next bytes of its body, is
   * given up (`ERR_REGISTRY`). @default 60000
   */
  idleTimeoutMs?: number;
}

/** What {@link registryLayout}'s requests give back: the answer, its body watched. */
interface Answer {
  status: number;
  headers: Headers;
  /** The body, given up when it stalls; null for HEAD and empty answers. */
  body: ReadableStream<Uint8Array> | null;
  /** Ends the request (and its connection, if the answer is not complete). */
  close(): void;
}

/** The manifest media types asked for, most wanted first. */
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');

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
  const doFetch = options.fetch ?? globalThis.fetch;
  const hash = options.hash ?? webHashProvider();
  const base = `${options.plainHttp ? 'http' : 'https'}://${registryApiHost(ref.registry)}/v2/${ref.repository}`;
  const sha256 = async (bytes: Uint8Array) => formatDigest(await hash.digest(bytes));

  const idle = options.idleTimeoutMs ?? 60_000;
  /**
   * A request, its failure typed; a 404 is given back for the caller to name, and a 401 for
   * {@link authed} to answer. It is given up
   * when the answer, or the next bytes of its body, take longer than the idle timeout.
   */
  const request = async (url: string, init: RequestInit = {}): Promise<Answer> => {
    const ac = new AbortController();
    const stalled = () =>
      new RegistryError(url, undefined, `nothing received for ${idle / 1000} s; given up`);
    let timer = setTimeout(() => ac.abort(stalled()), idle);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(stalled()), idle);
    };
    const close = () => {
      clearTimeout(timer);
      ac.abort(new Error('closed'));
    };
    let res: Response;
    try {
      res = await doFetch(url, {
        ...init,
        signal: ac.signal,
        headers: { accept: ACCEPT, ...init.headers },
      });
    } catch (err) {
      clearTimeout(timer);
      if (ac.signal.reason instanceof RegistryError) throw ac.signal.reason;
      throw new RegistryError(url, undefined, `no answer: ${(err as Error)?.message ?? err}`, {
        cause: err,
      });
    }
    touch();
    const reader = res.body?.getReader();
    const body =
      reader &&
      new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            try {
              const r = await reader.read();
              if (r.done) {
                clearTimeout(timer);
                controller.close();
              } else {
                touch();
                controller.enqueue(r.value);
              }
            } catch (err) {
              clearTimeout(timer);
              throw ac.signal.reason instanceof RegistryError ? ac.signal.reason : err;
            }
          },
          cancel(reason) {
            close();
            return reader.cancel(reason).catch(() => {});
          },
        },
        { highWaterMark: 0 },
      );
    const answer: Answer = { status: res.status, headers: res.headers, body: body ?? null, close };
    if (!reader) clearTimeout(timer);
    if (res.ok || res.status === 404 || res.status === 401) return answer;
    const text = await readBytes(body ?? new ReadableStream(), 2048, () => new Error()).then(
      (b) => new TextDecoder().decode(b),
      () => '',
    );
    close();
    throw new RegistryError(
      url,
      res.status,
      `answered ${res.status}${text ? `: ${JSON.stringify(text.slice(0, 300))}` : ''}`,
    );
  };
  const source = options.credentials;
  let credentialsAsked: Promise<RegistryCredentials | undefined> | undefined;
  /** The credentials, asked of the source once, when first needed. */
  const credentials = () =>
    (credentialsAsked ??= Promise.resolve(
      typeof source === 'function' ? source(ref.registry, ref.repository) : source,
    ));
  /** The `Authorization` value requests carry: a token, or Basic credentials. */
  let authorization: string | undefined;
  /** The renewal under way, which requests refused meanwhile wait for. */
  let renewing: Promise<string> | undefined;

  /** Asks the token service of `challenge` for a token, with the credentials if any. */
  const bearerToken = async (challenge: BearerChallenge): Promise<string> => {
    const c = await credentials();
    if (c && !options.plainHttp && new URL(challenge.realm).protocol !== 'https:') {
      throw new RegistryAuthError(
        challenge.realm,
        undefined,
        'the registry is HTTPS but names a plain HTTP token service; credentials are not sent there',
      );
    }
    const asked = tokenRequest(challenge, `repository:${ref.repository}:pull`, c);
    if (!asked) {
      throw new RegistryAuthError(
        challenge.realm,
        undefined,
        'the username (it may not hold ":") or password holds a character a header cannot carry',
      );
    }
    let answer: Answer;
    try {
      answer = await request(asked.url, asked.init);
    } catch (err) {
      if (err instanceof RegistryError && err.status === 403) {
        throw new RegistryAuthError(err.url, 403, err.message.slice(err.url.length + 2));
      }
      throw err;
    }
    if (answer.status !== 200) {
      answer.close();
      throw answer.status === 401
        ? new RegistryAuthError(
            asked.url,
            401,
            c
              ? 'refused the credentials'
              : 'gives no anonymous token: credentials are needed (see docs/OCI.md "Credentials")',
          )
        : new RegistryError(asked.url, answer.status, 'gave no token');
    }
    const bytes = await readBytes(answer.body ?? new ReadableStream(), 65536, () => {
      return new RegistryError(asked.url, 200, 'token answer over 64 KiB');
    });
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      json = undefined;
    }
    const token = tokenOf(json);
    if (token === undefined) throw new RegistryError(asked.url, 200, 'answered no usable token');
    return `Bearer ${token}`;
  };
  /** What to answer the challenge of a 401 to `url` with. */
  const answerChallenge = async (url: string, header: string | null): Promise<string> => {
    const challenge = parseBearerChallenge(header);
    if (challenge) return bearerToken(challenge);
    if (!isBasicChallenge(header)) {
      throw new RegistryAuthError(
        url,
        401,
        `asks for an authentication scheme not built: ${JSON.stringify((header ?? '').slice(0, 80))}`,
      );
    }
    const c = await credentials();
    if (!c || !('password' in c)) {
      throw new RegistryAuthError(
        url,
        401,
        c
          ? 'asks for a username and password (HTTP Basic), and an identity token was given'
          : 'asks for a username and password (HTTP Basic): none given (see docs/OCI.md "Credentials")',
      );
    }
    const basic = basicAuthorization(c.username, c.password);
    if (basic === undefined) {
      throw new RegistryAuthError(
        url,
        401,
        'the username (it may not hold ":") or password holds a character a header cannot carry',
      );
    }
    return basic;
  };
  /**
   * A new `Authorization` after `refused` was refused. Requests refused together share one
   * renewal, and a request refused with what a renewal has since replaced takes the new one.
   */
  const renew = (url: string, refused: string | undefined, header: string | null) => {
    if (authorization !== refused && authorization !== undefined) {
      return Promise.resolve(authorization);
    }
    renewing ??= answerChallenge(url, header).then(
      (value) => {
        authorization = value;
        renewing = undefined;
        return value;
      },
      (err) => {
        renewing = undefined;
        throw err;
      },
    );
    return renewing;
  };
  /**
   * A request with the `Authorization` got so far, if any. A 401 gets a new one (a token
   * from the realm a Bearer challenge names, or the credentials for Basic) and the request is
   * sent again, once: so tokens that expire during a long pull are renewed.
   */
  const authed = async (url: string, init: RequestInit = {}): Promise<Answer> => {
    const send = (value: string | undefined) =>
      request(
        url,
        value === undefined
          ? init
          : { ...init, headers: { ...init.headers, authorization: value } },
      );
    const sent = authorization;
    let res = await send(sent);
    if (res.status !== 401) return res;
    const header = res.headers.get('www-authenticate');
    res.close();
    const renewed = await renew(url, sent, header);
    res = await send(renewed);
    if (res.status === 401) {
      res.close();
      const basic = renewed.startsWith('Basic ');
      throw new RegistryAuthError(
        url,
        401,
        basic
          ? 'refused the credentials'
          : `refused the token its token service gave (${(await credentials()) ? 'the account may not pull' : 'anonymous pulls may not be allowed'} ${ref.repository})`,
      );
    }
    return res;
  };
  /** A whole body, refused past `limit` bytes. */
  const body = (res: Answer, url: string, limit: number) => {
    const length = Number(res.headers.get('content-length') ?? Number.NaN);
    const over = () => new OciLimitError(`${url}: more than the limit of ${limit} bytes`);
    if (length > limit) {
      res.close();
      throw over();
    }
    return readBytes(res.body ?? new ReadableStream(), limit, over);
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
  const blob = async (digest: string, method = 'GET') => {
    const res = await authed(`${base}/blobs/${digest}`, { method });
    if (res.status === 404) {
      res.close();
      throw new OciBlobNotFoundError(digest);
    }
    return res;
  };

  const files: LayoutFiles = {
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
    openBlob(digest) {
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      return new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            if (!reader) {
              const res = await blob(digest);
              if (!res.body)
                throw new RegistryError(`${base}/blobs/${digest}`, res.status, 'no body');
              reader = res.body.getReader();
            }
            const r = await reader.read();
            if (r.done) controller.close();
            else controller.enqueue(r.value);
          },
          cancel: (reason) => reader?.cancel(reason).catch(() => {}),
        },
        { highWaterMark: 0 },
      );
    },
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
