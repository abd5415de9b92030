/**
 * `uploadBlob`: one blob into a registry, made as it goes up, and resumed when the upload
 * breaks off. The protocol is the distribution spec's: `POST /v2/<name>/blobs/uploads/` opens
 * an upload, `PATCH` requests of `partSize` bytes (when set) carry its parts, and a last `PUT
 * ...?digest=` carries the rest and completes it.
 *
 * An upload that breaks off (no answer, a stall, 408, 429, a 5xx, or a 401 after which the
 * token was renewed) is asked where it stands (`GET` of its location: a `Range: 0-<end>`
 * answer). The blob is then made again from its start, hashed whole, and sent on from the
 * first byte the registry lacks. A registry that lost the upload (404, 416; Docker's
 * distribution 2.8 drops an upload whose size is not what its last answer said, which is what
 * a request cut off mid-body leaves) gets a new one, from the start. A blob that is there by
 * then (the last answer lost on the way back) is not sent again. Given a repository of the
 * registry that has the blob, it first asks the registry to mount it from there
 * (`?mount=<digest>&from=<repository>`), and sends nothing when it does.
 *
 * @module
 */
import { RegistryAuthError, RegistryError } from '../errors.js';
import type { HashProvider } from '../hash/types.js';
import { stopOnAbort } from '../work-group.js';
import {
  type Answer,
  MAX_RETRY_AFTER,
  mayPass,
  noRedirect,
  pause,
  type RegistrySession,
} from './session.js';
import { UnexpectedBlob, UploadBody } from './upload-body.js';

/** What {@link uploadBlob} needs of the push it is part of. */
export interface BlobUploadContext {
  session: RegistrySession;
  hash: HashProvider;
  /** `PATCH` parts of this many bytes; one `PUT` when undefined. */
  partSize?: number;
  /** Whether the registry has a blob (a `HEAD`, ending with `signal`). */
  has(digest: string, signal?: AbortSignal): Promise<boolean>;
  /**
   * Aborted when the upload is no longer wanted (another layer of the push failed): the
   * blob's source, requests under way and pauses end with its reason, and no new one starts.
   * The upload is still deleted.
   */
  signal?: AbortSignal;
}

/** Where {@link uploadBlob} may take a blob from without sending it. */
export interface BlobMount {
  /** A repository of the same registry that has the blob. */
  from: string;
}

/** What became of one upload. */
export interface UploadedBlob {
  /** What the blob turned out to be: `digest` and `size` when kept. */
  digest: string;
  size: number;
  /** False when the blob did not come out as expected: nothing of it was kept. */
  kept: boolean;
  /** How often the upload broke off and was resumed. */
  resumed: number;
  /** Whether the registry mounted it from another repository (nothing sent). */
  mounted: boolean;
}

/** The most resumptions of one upload, in all. */
const MAX_RESUMES = 10;

/**
 * An upload that broke off in a way that may pass; `moved` when bytes went out before the
 * connection broke (an answer, even a 5xx, is no progress).
 */
class BrokenOff {
  constructor(
    readonly cause: RegistryError,
    readonly moved: boolean,
  ) {}
}

/**
 * Uploads a blob the registry lacks, resuming it when it breaks off.
 * @param ctx - the session, hashing, part size and blob check.
 * @param open - the blob's bytes from its start; called again for each resumption.
 * @param digest - the digest the blob must have.
 * @param size - the size it must have.
 * @param mount - a repository of the registry that has the blob: it is asked to mount it from
 * there first (`POST ...?mount=<digest>&from=<repository>`); a registry that does not (202)
 * has opened an upload, which goes on as any.
 * @returns what it became; `kept` false (and nothing of it completed at the registry) when its
 * bytes did not hash to `digest` or were not `size` long.
 * @throws {@link RegistryError} for what the registry refuses, or when the upload broke off
 * `retries` times in a row without a byte going out, or {@link MAX_RESUMES} times in all;
 * {@link RegistryAuthError} when it refuses the renewed token; the source's own errors.
 */
export async function uploadBlob(
  ctx: BlobUploadContext,
  open: () => ReadableStream<Uint8Array>,
  digest: string,
  size: number,
  mount?: BlobMount,
): Promise<UploadedBlob> {
  const { session, signal } = ctx;
  /**
   * The blob, failing as soon as `signal` is aborted: a request's abort cancels its body, but
   * the bytes a resumed upload's registry holds are made before any request goes.
   */
  const source = signal ? () => stopOnAbort(open(), signal) : open;
  const origin = new URL(session.base).origin;
  /**
   * Credentials only to the registry: an upload location elsewhere gets none. Every request
   * but the `DELETE` that ends an upload given up ends with `signal`.
   */
  const send = (at: URL, init: RequestInit, once = false) => {
    const full = signal && init.method !== 'DELETE' ? { ...init, signal } : init;
    return at.origin === origin
      ? session.authed(at.href, full, once)
      : session.request(at.href, full);
  };
  /** Where the upload stands: its location, and how many bytes the registry holds. */
  let at: { url: URL; offset: number } | undefined;
  if (mount !== undefined) {
    let started: URL | 'mounted' | undefined;
    try {
      started = await startUpload(session, signal, { digest, from: mount.from });
    } catch (err) {
      // A registry that refuses the mount itself (a 4xx, where the spec says it opens an
      // upload instead) gets the blob uploaded.
      const refused = err instanceof RegistryError && !(err instanceof RegistryAuthError);
      const status = refused ? err.status : undefined;
      if (status === undefined || status < 400 || mayPass(err)) throw err;
    }
    if (started === 'mounted') return { digest, size, kept: true, resumed: 0, mounted: true };
    if (started !== undefined) at = { url: started, offset: 0 };
  }
  let resumed = 0;
  let still = 0;
  let refusedBefore = false;
  /** Ends an upload given up, so the registry need not keep it (as far as it will). */
  const abandon = async () => {
    if (at)
      await send(at.url, { method: 'DELETE' }).then(
        (r) => r.close(),
        () => {},
      );
  };
  try {
    for (;;) {
      try {
        signal?.throwIfAborted();
        at ??= { url: await opening(session, signal), offset: 0 };
        const done = await attempt(ctx, send, source, digest, size, at);
        if (done instanceof UnexpectedBlob) {
          await abandon();
          return { digest: done.digest, size: done.size, kept: false, resumed, mounted: false };
        }
        return { digest, size, kept: true, resumed, mounted: false };
      } catch (err) {
        if (!(err instanceof BrokenOff)) throw err;
        const { cause, moved } = err;
        const refused = cause instanceof RegistryAuthError;
        still = moved ? 0 : still + 1;
        resumed++;
        if (
          (refused && refusedBefore) ||
          still > session.retries ||
          resumed > MAX_RESUMES ||
          (cause.retryAfterMs ?? 0) > MAX_RETRY_AFTER
        ) {
          if (refused) throw cause;
          throw new RegistryError(
            cause.url,
            cause.status,
            `the upload of ${digest} broke off ${resumed} times, the registry holding ${at?.offset ?? 0} of its ${size} bytes at the last; given up: ${cause.detail}`,
            { cause },
          );
        }
        refusedBefore = refused;
        if (!refused) {
          await pause(
            cause.retryAfterMs ?? session.retryDelayMs * 2 ** Math.max(0, still - 1),
            signal,
          );
        }
        // A 416 says the registry holds other bytes than its status said; a status of none
        // (or of `0-0`, which distribution says for one byte as for none) leaves nothing to
        // go on from: either way, a new upload.
        const status =
          at === undefined
            ? 'gone'
            : cause.status === 416
              ? 'anew'
              : await uploadStatus(send, at.url, size);
        if (typeof status === 'string') {
          if (status === 'anew') await abandon();
          at = undefined;
          if (await ctx.has(digest, ctx.signal)) {
            return { digest, size, kept: true, resumed, mounted: false };
          }
        } else {
          at = status;
        }
      }
    }
  } catch (err) {
    // Given up, or failed otherwise (the status asked, the blob checked): the upload ends.
    await abandon();
    throw err;
  }
}

/** Opens an upload; a failure that may pass (no answer, 408, 429, a 5xx) is {@link BrokenOff}. */
async function opening(session: RegistrySession, signal?: AbortSignal): Promise<URL> {
  try {
    return await startUpload(session, signal);
  } catch (err) {
    throw mayPass(err) ? new BrokenOff(err, false) : err;
  }
}

/**
 * Opens an upload: its location; or, asked to mount a blob, `mounted` when the registry did
 * (201).
 */
function startUpload(session: RegistrySession, signal?: AbortSignal): Promise<URL>;
function startUpload(
  session: RegistrySession,
  signal: AbortSignal | undefined,
  mount: { digest: string; from: string },
): Promise<URL | 'mounted'>;
async function startUpload(
  session: RegistrySession,
  signal?: AbortSignal,
  mount?: { digest: string; from: string },
): Promise<URL | 'mounted'> {
  const start = `${session.base}/blobs/uploads/`;
  const url = mount
    ? `${start}?${new URLSearchParams({ mount: mount.digest, from: mount.from })}`
    : start;
  const res = await session.authed(url, {
    method: 'POST',
    headers: { 'content-length': '0' },
    ...(signal ? { signal } : {}),
  });
  res.close();
  if (mount && res.status === 201) return 'mounted';
  if (res.status !== 202) {
    throw new RegistryError(start, res.status, `answered ${res.status} to an upload`);
  }
  return uploadLocation(res);
}

/**
 * Where an upload goes on: the `Location` an answer names, resolved against the URL that gave
 * the answer (where a redirect led, if one did).
 * @throws {@link RegistryError} when there is none, or it is not an http(s) URL.
 */
function uploadLocation(res: Answer): URL {
  const from = res.url;
  const location = res.headers.get('location');
  try {
    const url = new URL(location ?? '', from);
    if (location !== null && (url.protocol === 'https:' || url.protocol === 'http:')) return url;
  } catch {
    // Said below.
  }
  throw new RegistryError(from, res.status, `gave no upload location: ${JSON.stringify(location)}`);
}

/**
 * Where an upload stands (`GET` of its location): `gone` when the registry no longer has it;
 * `anew` when there is nothing to go on from (none held, or more than the blob).
 */
async function uploadStatus(
  send: (at: URL, init: RequestInit) => Promise<Answer>,
  url: URL,
  size: number,
): Promise<{ url: URL; offset: number } | 'gone' | 'anew'> {
  const res = await send(url, { method: 'GET' });
  res.close();
  if (res.status !== 204 && res.status !== 200) return 'gone';
  // `0-<last byte held>`. Distribution says `0-0` for none as for one byte: nothing to go on
  // from (and a part sent from a wrong offset is answered 416).
  const range = /^0-(\d{1,15})$/.exec(res.headers.get('range')?.trim() ?? '');
  const last = range ? Number(range[1]) : 0;
  if (last === 0 || last + 1 > size) return 'anew';
  const offset = last + 1;
  return { url: res.headers.has('location') ? uploadLocation(res) : url, offset };
}

/**
 * One attempt at an upload, from `at.offset` on: `PATCH` parts, then the last `PUT`. `at`
 * follows the registry's answers.
 * @returns `true` once completed, or what the blob turned out to be when it did not come out
 * as expected.
 * @throws {@link BrokenOff} when it broke off in a way that may pass; other errors when not.
 */
async function attempt(
  ctx: BlobUploadContext,
  send: (at: URL, init: RequestInit, once?: boolean) => Promise<Answer>,
  open: () => ReadableStream<Uint8Array>,
  digest: string,
  size: number,
  at: { url: URL; offset: number },
): Promise<true | UnexpectedBlob> {
  if (at.offset === size) {
    // The registry holds the whole blob (its last piece goes out only once the blob was
    // checked): the `PUT` completes it, and the registry checks the digest itself.
    const complete = new URL(at.url);
    complete.searchParams.set('digest', digest);
    let res: Answer;
    try {
      res = await send(complete, { method: 'PUT', headers: { 'content-length': '0' } });
    } catch (err) {
      throw resumable(err) ? new BrokenOff(err, false) : err;
    }
    res.close();
    if (res.status === 201) return true;
    const refused = new RegistryError(complete.href, res.status, `answered ${res.status}`);
    throw resumable(refused) ? new BrokenOff(refused, false) : refused;
  }
  const body = new UploadBody(open(), await ctx.hash.create(), digest, size, at.offset);
  // The bytes the registry holds are made and hashed before a request goes: a request whose
  // body waited for them would be given up as stalled.
  try {
    await body.skipHeld();
  } catch (err) {
    await body.cancel(err);
    throw err;
  }
  /**
   * Sends one part (`PATCH`, or the last by `PUT`): the answer, or what the blob turned out
   * to be when it did not come out as expected.
   */
  const part = async (
    method: 'PATCH' | 'PUT',
    url: URL,
    length: number,
    headers: Record<string, string>,
  ): Promise<Answer | UnexpectedBlob> => {
    const init = {
      method,
      body: body.part(length, method === 'PUT'),
      duplex: 'half',
      redirect: noRedirect(),
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        ...headers,
      },
    } as RequestInit;
    let res: Answer;
    try {
      res = await send(url, init, true);
    } catch (err) {
      // What the body knew when the request failed, before giving it up (a read that the
      // giving up ends is no end of the blob).
      await body.settled();
      const failure = body.failure;
      await body.cancel(new Error('the upload failed'));
      if (failure instanceof UnexpectedBlob) return failure;
      if (failure !== undefined) throw failure;
      throw resumable(err) ? new BrokenOff(err, err.status === undefined && body.sent > 0) : err;
    }
    await body.settled();
    const failure = body.failure;
    if (failure instanceof UnexpectedBlob) {
      res.close();
      return failure;
    }
    const where = url.origin + url.pathname;
    const want = method === 'PUT' ? 201 : 202;
    if (res.status === want) return res;
    res.close();
    if (res.status === 401) {
      // The session renewed its authentication: the upload goes on with it.
      throw new BrokenOff(
        new RegistryAuthError(where, 401, `refused the upload of ${digest}`),
        false,
      );
    }
    const refused = new RegistryError(
      where,
      res.status,
      `answered ${res.status} to the upload of ${digest}`,
    );
    throw resumable(refused) ? new BrokenOff(refused, false) : refused;
  };

  try {
    const partSize = ctx.partSize;
    while (partSize !== undefined && size - at.offset > partSize) {
      const end = at.offset + partSize - 1;
      const res = await part('PATCH', at.url, partSize, {
        'content-range': `${at.offset}-${end}`,
      });
      if (res instanceof UnexpectedBlob) return res;
      res.close();
      at.url = uploadLocation(res);
      at.offset += partSize;
    }
    const last = new URL(at.url);
    last.searchParams.set('digest', digest);
    const res = await part(
      'PUT',
      last,
      size - at.offset,
      at.offset > 0 ? { 'content-range': `${at.offset}-${size - 1}` } : {},
    );
    if (res instanceof UnexpectedBlob) return res;
    res.close();
    return true;
  } finally {
    // A source given up, or read to its end (then this does nothing).
    await body.cancel(new Error('the upload ended'));
  }
}

/**
 * Whether an upload request's failure may pass once the upload is asked where it stands: no
 * answer, a stall, 408, 429 or a 5xx; or the registry lost the upload (404) or holds other
 * bytes of it than were sent on from (416).
 */
function resumable(err: unknown): err is RegistryError {
  return (
    mayPass(err) || (err instanceof RegistryError && (err.status === 404 || err.status === 416))
  );
}
