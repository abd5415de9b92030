/**
 * `nodeHttpFetch`: the part of `fetch` the registry client uses, over `node:http` and
 * `node:https`. Node's own `fetch` (undici) compiles its WebAssembly HTTP parser on first use,
 * which took this process's peak RSS from 43 to 83 MiB for one request (measured on Node 20);
 * `oci pull` and `oci push` stream layers in well under the difference.
 *
 * What it does as fetch does: `method`, `headers`, a body of bytes, a string or a
 * `ReadableStream` (streamed, with `Content-Length` when the caller sets it), `signal`,
 * redirects (`follow`, `error`, `manual`; at most 20 hops, `Authorization`, `Cookie` and
 * `Proxy-Authorization` dropped when a redirect leaves the origin, a stream body never sent
 * twice; a redirect's body never read), and a `Response` whose body streams, with the `url` that
 * answered. A request it refuses for good (a redirect it may not follow, more than 20, to a
 * scheme not http(s); an answer whose status is not HTTP's) fails with a `TypeError` whose
 * `code` is `ERR_FETCH_REFUSED`, which the registry client does not ask again; a network
 * error is Node's own (`ECONNRESET`...). What it leaves out: caching, cookies, CORS,
 * compression of answers (it asks for none), `Request` objects as input.
 *
 * @module
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FETCH_REFUSED } from '../registry/fetch-failure.js';

/** Hops followed at most, as fetch follows. */
const MAX_REDIRECTS = 20;
/** Headers that do not follow a redirect to another origin. */
const ORIGIN_BOUND = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * The error for a request refused for good (fetch's network error, a `TypeError`), marked so
 * that the registry client does not ask again ({@link FETCH_REFUSED}).
 */
function refusal(why: string): TypeError {
  return Object.assign(new TypeError(why), { code: FETCH_REFUSED });
}

/**
 * A fetch over `node:http` and `node:https` (see the module's notes for what it covers).
 * @returns a function to pass where a `fetch` is taken (`registryLayout`, `pushImage`).
 */
export function nodeHttpFetch(): typeof fetch {
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    if (typeof input !== 'string' && !(input instanceof URL)) {
      throw refusal('nodeHttpFetch takes a URL, not a Request');
    }
    let url = new URL(String(input));
    let method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    let body = init.body ?? null;
    for (let hops = 0; ; hops++) {
      const res = await send(url, method, headers, body, init.signal ?? undefined);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(status) || location === undefined) {
        return toResponse(res, method, url);
      }
      if (init.redirect === 'manual') return toResponse(res, method, url);
      // A redirect's body is not read: one that never ends would hold the connection open.
      res.destroy();
      /** Ends this request (and a body still being sent) before giving up. */
      const fail = (why: string) => {
        res.socket?.destroy();
        return refusal(why);
      };
      if (init.redirect === 'error') throw fail(`redirected to ${location}`);
      if (hops === MAX_REDIRECTS) throw fail(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw fail(`redirected to a URL that is not http(s): ${next.protocol}`);
      }
      if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
        if (method !== 'HEAD') method = 'GET';
        body = null;
        headers.delete('content-length');
        headers.delete('content-type');
      } else if (body instanceof ReadableStream) {
        throw fail('redirected with a stream body, which cannot be sent again');
      }
      if (next.origin !== url.origin) for (const h of ORIGIN_BOUND) headers.delete(h);
      url = next;
    }
  }) as typeof fetch;
}

/** Sends one request; resolves with its answer's head. */
function send(
  url: URL,
  method: string,
  headers: Headers,
  body: BodyInit | null,
  signal: AbortSignal | undefined,
): Promise<IncomingMessage> {
  const outgoing: Record<string, string> = { 'accept-encoding': 'identity' };
  headers.forEach((value, name) => {
    outgoing[name] = value;
  });
  let bytes: Uint8Array | undefined;
  if (typeof body === 'string') bytes = new TextEncoder().encode(body);
  else if (body instanceof Uint8Array) bytes = body;
  else if (body !== null && !(body instanceof ReadableStream)) {
    return Promise.reject(refusal('nodeHttpFetch sends bytes, strings and streams only'));
  }
  if (bytes) outgoing['content-length'] = String(bytes.length);
  return new Promise((resolve, reject) => {
    const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = make(url, { method, headers: outgoing, ...(signal ? { signal } : {}) });
    req.once('response', resolve);
    req.once('error', (err) => reject(signal?.aborted ? signal.reason : err));
    if (body instanceof ReadableStream) {
      // A failing body fails the request (and destroys it), as it fails fetch.
      pipeline(Readable.fromWeb(body as import('node:stream/web').ReadableStream), req).catch(
        (err) => {
          req.destroy(err);
          reject(err);
        },
      );
    } else {
      req.end(bytes);
    }
  });
}

/**
 * The answer as a `Response` whose body streams from the socket; its `url` is the one that
 * answered (after redirects), as fetch gives it.
 * @throws TypeError for a status outside 200-599 (fetch's network error, refused for good),
 *   the connection ended.
 */
function toResponse(res: IncomingMessage, method: string, url: URL): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status > 599) {
    res.destroy();
    throw refusal(`answered with status ${status}, which is not an HTTP status`);
  }
  const empty = method === 'HEAD' || status === 204 || status === 304;
  if (empty) res.resume();
  const body = empty ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
  const response = new Response(body, { status, statusText: res.statusMessage ?? '', headers });
  Object.defineProperty(response, 'url', { value: url.href });
  return response;
}
