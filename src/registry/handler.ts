/**
 * A read-only OCI registry over chunk stores: the pull side of the OCI distribution API
 * (`/v2/`, manifests, blobs with byte ranges, tag lists, the catalog) as a function from a
 * Fetch API `Request` to a `Response`, so that it runs as it is in a Worker's `fetch`, behind
 * `node:http` (`serveRegistry` in `layerdiff/node`), or anywhere else with Web Streams.
 * Layers are rebuilt from their chunks as the client reads them: every chunk is checked
 * against its digest, and a blob whose bytes turn out other than its digest breaks off
 * instead of ending.
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { isDigest } from '../hash/digest.js';
import type { HashProvider } from '../hash/types.js';
import { webHashProvider } from '../hash/web.js';
import { MAX_ROOT_BLOB } from '../oci/chunked.js';
import { createGzipWriter } from '../oci/gzip-reproduce.js';
import { reassemble } from '../pipeline/reassemble.js';
import { Slots } from '../slots.js';
import type { ChunkReader } from '../store/types.js';
import { checkedBlob } from './checked-blob.js';
import { NAME_RE, TAG_RE } from './names.js';
import { type ByteRange, byteRange, parseRange } from './range.js';
import type { RegistryRepository, ServedBlob } from './repository.js';

/** Options of {@link createRegistryHandler}. */
export interface RegistryOptions {
  /** Repositories by name (`[a-z0-9]+` parts joined by `.`, `_`, `__`, `-` and `/`). */
  repositories: Map<string, RegistryRepository>;
  /** The chunk store the layouts' layers were converted into. */
  store: ChunkReader;
  /** Hashing of chunks, layers and served blobs. @default webHashProvider() */
  hash?: HashProvider;
  /**
   * Told of a failure while a response body streams (a missing or damaged chunk, a blob that
   * is not what was promised): the response is broken off, so this is where it can be logged.
   */
  onStreamError?: (error: unknown, request: Request) => void;
  /**
   * Most blob bodies made at once (layers rebuilt, artifacts streamed): each holds its chunks
   * in flight and its connection's buffers, so memory stays bounded whatever the number of
   * clients. Further requests for such bodies wait, in order, for one to end; a request whose
   * `signal` aborts while it waits (its client went away) leaves the queue without reading
   * anything. A client that stops reading holds its slot until its body is cancelled
   * (`serveRegistry` ends such a connection after `stallTimeoutMs`). @default 4
   */
  maxPulls?: number;
}

/** Longest request path looked at. */
const MAX_PATH = 4096;
/** Most entries of a tag list or the catalog in one page when the client names no `n`. */
const PAGE = 1000;

const API_VERSION = { 'docker-distribution-api-version': 'registry/2.0' };

/**
 * Creates the registry's request handler.
 * @param options - repositories, store and hashing.
 * @returns `(request) => Promise<Response>`. It never rejects: failures before the response
 * are error responses (4xx with the spec's `errors` body, 500 for the store's failures).
 */
export function createRegistryHandler(
  options: RegistryOptions,
): (request: Request) => Promise<Response> {
  const hash = options.hash ?? webHashProvider();
  const slots = new Slots(options.maxPulls ?? 4);
  for (const name of options.repositories.keys()) {
    if (!NAME_RE.test(name) || name.length > 255) {
      throw new TypeError(`repository name ${JSON.stringify(name)} is not a valid OCI name`);
    }
  }
  const context: Context = { ...options, hash, slots };
  return async (request) => {
    try {
      return await route(request, context);
    } catch (err) {
      return errorResponse(500, 'UNKNOWN', (err as Error)?.message ?? String(err));
    }
  };
}

/** The handler's options, with its hashing and its slots for bodies. */
type Context = RegistryOptions & { hash: HashProvider; slots: Slots };

async function route(request: Request, options: Context): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path.length > MAX_PATH) return errorResponse(414, 'NAME_INVALID', 'request path too long');
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return errorResponse(405, 'UNSUPPORTED', 'this registry serves pulls only (GET, HEAD)', {
      allow: 'GET, HEAD',
    });
  }
  const head = request.method === 'HEAD';
  if (path === '/v2/' || path === '/v2') return json({}, head);
  if (path === '/v2/_catalog') {
    return page('repositories', [...options.repositories.keys()], url, head, {});
  }
  const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
  const t = m ? undefined : /^\/v2\/(.+)\/tags\/list$/.exec(path);
  const name = m?.[1] ?? t?.[1];
  if (name === undefined) return errorResponse(404, 'NOT_FOUND', `no such endpoint: ${path}`);
  if (!NAME_RE.test(name)) return errorResponse(400, 'NAME_INVALID', `invalid name ${name}`);
  const repo = options.repositories.get(name);
  if (!repo) return errorResponse(404, 'NAME_UNKNOWN', `repository ${name} is not served here`);
  if (t) return page('tags', [...repo.tags.keys()], url, head, { name });

  let reference: string;
  try {
    reference = decodeURIComponent(m![3]!);
  } catch {
    return errorResponse(400, 'DIGEST_INVALID', 'reference is not valid percent-encoding');
  }
  if (m![2] === 'manifests') {
    const digest = isDigest(reference) ? reference : repo.tags.get(reference);
    if (digest === undefined && !TAG_RE.test(reference)) {
      return errorResponse(400, 'TAG_INVALID', `invalid reference ${reference}`);
    }
    const found = digest === undefined ? undefined : repo.manifests.get(digest);
    if (!found || digest === undefined) {
      return errorResponse(404, 'MANIFEST_UNKNOWN', `manifest ${reference} is not in ${name}`);
    }
    return new Response(head ? null : (found.bytes as Uint8Array<ArrayBuffer>), {
      headers: {
        ...API_VERSION,
        'content-type': found.mediaType,
        'content-length': String(found.bytes.length),
        'docker-content-digest': digest,
        etag: `"${digest}"`,
      },
    });
  }
  if (!isDigest(reference)) {
    return errorResponse(400, 'DIGEST_INVALID', `invalid digest ${reference}`);
  }
  const blob = repo.blobs.get(reference);
  if (!blob) return errorResponse(404, 'BLOB_UNKNOWN', `blob ${reference} is not in ${name}`);
  return blobResponse(request, repo, reference, blob, options);
}

/** A blob's response: whole, or the one range asked for. */
async function blobResponse(
  request: Request,
  repo: RegistryRepository,
  digest: string,
  blob: ServedBlob,
  options: Context,
): Promise<Response> {
  const size = blob.kind === 'bytes' ? blob.bytes.length : blob.size;
  const headers: Record<string, string> = {
    ...API_VERSION,
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    etag: `"${digest}"`,
    'accept-ranges': 'bytes',
  };
  const range = parseRange(request.headers.get('range'), size);
  if (range === 'unsatisfiable') {
    return errorResponse(416, 'BLOB_UNKNOWN', `range outside the blob's ${size} bytes`, {
      'content-range': `bytes */${size}`,
    });
  }
  const status = range ? 206 : 200;
  if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['content-length'] = String(range ? range.end - range.start + 1 : size);
  if (request.method === 'HEAD') return new Response(null, { status, headers });

  if (blob.kind === 'bytes') {
    const bytes = range ? blob.bytes.subarray(range.start, range.end + 1) : blob.bytes;
    return new Response(bytes as Uint8Array<ArrayBuffer>, { status, headers });
  }
  // A request given up while it waits (its `signal` aborted) leaves the queue: the rejection
  // becomes a 500 that nobody reads.
  const release = await options.slots.acquire(request.signal);
  let body: ReadableStream<Uint8Array>;
  try {
    body = await streamedBody(repo, digest, blob, size, range, options);
  } catch (err) {
    release();
    throw err;
  }
  body = tracked(body, request, options.onStreamError, release);
  // workerd sends a stream body chunked, without its Content-Length, unless the stream is
  // one of its FixedLengthStreams (which also fails a body of another length).
  const Fixed = (globalThis as { FixedLengthStream?: FixedLengthStreamClass }).FixedLengthStream;
  if (Fixed) body = body.pipeThrough(new Fixed(Number(headers['content-length'])));
  return new Response(body, { status, headers });
}

/** A blob body made on the fly: an artifact's, streamed, or a layer's, rebuilt. */
async function streamedBody(
  repo: RegistryRepository,
  digest: string,
  blob: Exclude<ServedBlob, { kind: 'bytes' }>,
  size: number,
  range: ByteRange | undefined,
  options: Context,
): Promise<ReadableStream<Uint8Array>> {
  const { hash } = options;
  if (blob.kind === 'layout') {
    const body = repo.layout.openBlob(digest).pipeThrough(checkedBlob(digest, size, hash));
    return range ? body.pipeThrough(byteRange(range)) : body;
  }
  // Read (and checked) again for each response, so that nothing but small JSON is held.
  const root = await repo.layout.readBlob(blob.root, MAX_ROOT_BLOB);
  if (!blob.gzip) {
    // The tar as it is: reassemble checks its diff_id and size (the blob's digest and size)
    // itself, and makes a range without fetching the chunks before it.
    return reassemble(streamOfBytes(root), options.store, { hash, ...(range ? { range } : {}) });
  }
  // Recompressed: every byte before the range's end is made, and checked here. An engine
  // that copies its input lets the chunk buffers be reused (see `restoreLayout`).
  const recycle = blob.gzip.engine.copiesInput === true;
  const body = reassemble(streamOfBytes(root), options.store, { hash, recycle })
    .pipeThrough(createGzipWriter(blob.gzip.params, blob.gzip.engine, { giveBack: recycle }))
    .pipeThrough(checkedBlob(digest, size, hash));
  return range ? body.pipeThrough(byteRange(range)) : body;
}

/** workerd's `FixedLengthStream` (absent elsewhere). */
type FixedLengthStreamClass = new (length: number) => ReadableWritablePair<Uint8Array, Uint8Array>;

/**
 * Passes a body on; once it ends, breaks off or is cancelled, frees its slot, and tells
 * `onError` why it broke off, if it does.
 */
function tracked(
  body: ReadableStream<Uint8Array>,
  request: Request,
  onError: RegistryOptions['onStreamError'],
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await reader.read();
          if (r.done) {
            release();
            controller.close();
          } else {
            controller.enqueue(r.value);
          }
        } catch (err) {
          release();
          onError?.(err, request);
          controller.error(err);
        }
      },
      cancel(reason) {
        release();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** A page of a sorted list (`n` and `last` as the spec has them), with a `Link` to the next. */
function page(
  key: 'tags' | 'repositories',
  all: string[],
  url: URL,
  head: boolean,
  extra: Record<string, string>,
): Response {
  const last = url.searchParams.get('last');
  const nParam = url.searchParams.get('n');
  const n = nParam === null ? PAGE : Number(nParam);
  if (!Number.isSafeInteger(n) || n < 0) {
    return errorResponse(400, 'PAGINATION_NUMBER_INVALID', `invalid n ${nParam}`);
  }
  const sorted = all.sort();
  const from = last === null ? 0 : sorted.findIndex((x) => x > last);
  const rest = from < 0 ? [] : sorted.slice(from);
  const shown = rest.slice(0, n);
  const headers: Record<string, string> = {};
  if (shown.length < rest.length && shown.length > 0) {
    const next = new URL(url.pathname, 'http://x');
    next.searchParams.set('n', String(n));
    next.searchParams.set('last', shown[shown.length - 1]!);
    headers.link = `<${next.pathname}${next.search}>; rel="next"`;
  }
  return json({ ...extra, [key]: shown }, head, 200, headers);
}

function json(
  value: unknown,
  head: boolean,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return new Response(head ? null : bytes, {
    status,
    headers: {
      ...API_VERSION,
      ...headers,
      'content-type': 'application/json',
      'content-length': String(bytes.length),
    },
  });
}

/** An error in the distribution spec's form: `{"errors":[{"code","message"}]}`. */
function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return json({ errors: [{ code, message }] }, false, status, headers);
}
