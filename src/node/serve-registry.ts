/**
 * The registry handler (`createRegistryHandler`) behind `node:http`: each request becomes a
 * Fetch API `Request`, and the `Response` body is written as the client takes it (a slow
 * client holds back the rebuilding of its layer, not memory). A body that breaks off (a
 * missing or damaged chunk) ends the connection without the end of a response, so the client
 * sees it fail, never a short blob. A client that stops reading has its connection ended
 * after `stallTimeoutMs`, a request whose connection closes has its `signal` aborted, and a
 * pipelined request is answered only once the responses before it are written, so that none
 * of them holds a pull turn. A connection with more than `maxPipelined` requests unanswered is
 * ended, and a connection beyond `maxConnections` is closed as it comes.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../errors.js';
import { intOption } from '../options.js';
import { takeRequest } from './connection-requests.js';
import { stdoutSink } from './io.js';

/** The longest delay `setTimeout` takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options of {@link serveRegistry}. */
export interface ServeRegistryOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 0 */
  port?: number;
  /**
   * A response body's bytes are written in pieces of at most 64 KiB: a piece the connection
   * does not take within this long (its buffers stay full: the client stopped reading, or
   * reads too slowly) ends the connection, which frees the body's pull turn; so does the end
   * of an answer (an answer with no body, HEAD or an error, included) not taken within it. The kernel takes
   * more only once the client has read about a third of the socket's send buffer, which a
   * review saw Linux grow to 1.4-4 MiB: so a client must read about that much per timeout,
   * some 1.6-4.6 KiB/s at the default by arithmetic (the review saw clients cut at 16 KiB/s
   * under a 60 s timeout).
   * @default 300000
   */
  stallTimeoutMs?: number;
  /**
   * Most requests a connection may have unanswered (sent ahead, pipelined, while it waits for
   * the answers before them): one with more is ended, and the answers not yet sent on it are
   * not sent (a client that pipelines must send those requests again, as HTTP/1.1 asks).
   * Node parses the rest of the read under way (up to 64 KiB) first; those requests are not
   * answered either.
   * @default 32
   */
  maxPipelined?: number;
  /**
   * Most connections open at once: one more is closed as soon as it is accepted, before
   * anything is read from it (Node's `server.maxConnections`), so that the memory the
   * connections hold (each at most `maxPipelined` requests and one body in flight) is
   * bounded in all. The client sees its connection reset and may try again.
   * @default 512
   */
  maxConnections?: number;
}

/** A listening registry. */
export interface RunningRegistry {
  /** `http://host:port`. */
  url: string;
  server: Server;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

/**
 * Serves a Fetch-style handler over HTTP/1.1.
 * @param handler - what answers each request (see `createRegistryHandler`).
 * @param options - where to listen.
 * @returns the running server once it listens.
 */
export async function serveRegistry(
  handler: (request: Request) => Promise<Response>,
  options: ServeRegistryOptions = {},
): Promise<RunningRegistry> {
  const host = options.host ?? '127.0.0.1';
  const stallMs = intOption(options.stallTimeoutMs, 'stallTimeoutMs', 300_000);
  // A longer timer would overflow, and fire at once.
  if (stallMs > MAX_TIMER_MS) {
    throw new UsageError(`stallTimeoutMs must be at most ${MAX_TIMER_MS}, got ${stallMs}`);
  }
  const maxPipelined = intOption(options.maxPipelined, 'maxPipelined', 32);
  const maxConnections = intOption(options.maxConnections, 'maxConnections', 512);
  const server = createServer((req, res) => {
    // Whatever fails answering one request ends that request, never the server.
    answer(handler, req, res, stallMs, maxPipelined).catch(() => res.destroy());
  });
  server.maxConnections = maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Answers one request (its `signal` aborted if its connection closes first), once the
 * responses before it on its connection (pipelined) are written: until then it takes no pull
 * turn, and its body's stall timer does not run.
 */
async function answer(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  stallMs: number,
  maxPipelined: number,
): Promise<void> {
  const { signal, done } = takeRequest(req.socket, maxPipelined);
  try {
    if (!res.socket && !signal.aborted) await socketOf(res, signal);
    if (signal.aborted) {
      res.destroy();
      return;
    }
    await respond(handler, req, res, signal, stallMs);
  } finally {
    done();
  }
}

/** Waits until Node gives a queued response its connection, or `signal` aborts. */
function socketOf(res: ServerResponse, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const go = () => {
      res.off('socket', go);
      signal.removeEventListener('abort', go);
      resolve();
    };
    res.on('socket', go);
    signal.addEventListener('abort', go, { once: true });
  });
}

/** Answers one request: the handler's response, its body written with backpressure. */
async function respond(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
  signal: AbortSignal,
  stallMs: number,
): Promise<void> {
  // Pulls have no bodies. A request that sends one (a push) is answered 405 and its
  // connection closed after the answer, rather than its body read to the end.
  if (req.method !== 'GET' && req.method !== 'HEAD') res.shouldKeepAlive = false;
  req.resume();
  let url: URL;
  try {
    // Only the path and query are used: a request line in absolute form is cut to them.
    const target = new URL(req.url ?? '/', 'http://registry.invalid');
    url = new URL(`${target.pathname}${target.search}`, 'http://registry.invalid');
  } catch {
    res.writeHead(400);
    await endWithin(res, stallMs);
    return;
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v === 'string') headers.set(k, v);
  }
  let request: Request;
  try {
    // Aborted when the connection closes: a request still waiting for a pull turn leaves the
    // queue.
    request = new Request(url, { method: req.method ?? 'GET', headers, signal });
  } catch {
    // A method fetch will not carry (TRACE, CONNECT): not one a registry answers either.
    res.writeHead(405, { allow: 'GET, HEAD' });
    await endWithin(res, stallMs);
    return;
  }
  const response = await handler(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  const body = response.body;
  if (!body || req.method === 'HEAD') {
    await body?.cancel();
    await endWithin(res, stallMs);
    return;
  }
  try {
    // Written as the client takes it; a client that goes away fails the next write, which
    // cancels the body.
    // A response queued behind another on the connection (pipelined) hears nothing when
    // the client goes away: the connection's end stops its body, and frees its turn.
    await body.pipeTo(stalledSink(res, signal, stallMs), { signal });
  } catch (err) {
    // Broken off: no end of the response, so the client cannot take it for the whole blob.
    res.destroy();
    // Node 20's pipeTo does not cancel its source when its signal aborts while a write is
    // under way and that write then fails (the connection's end does both): cancelled here,
    // which frees the body's turn. A body already cancelled or ended takes no notice.
    body.cancel(err).catch(() => {});
    return;
  }
  await endWithin(res, stallMs);
}

/**
 * Ends `res` and waits until what it wrote is handed to the connection, or the connection
 * closes. What the client does not take within `stallMs` ends the connection: a client that
 * reads nothing would otherwise hold it (and its place among `maxConnections`) for good once
 * answers with no body (HEAD, errors) fill the buffers, as no body piece is then timed.
 */
function endWithin(res: ServerResponse, stallMs: number): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => res.destroy(), stallMs);
    const settle = () => {
      clearTimeout(timer);
      res.off('finish', settle);
      res.off('close', settle);
      resolve();
    };
    res.on('finish', settle);
    res.on('close', settle);
    res.end();
  });
}

/** Most bytes written at once, each piece timed on its own (see `stallTimeoutMs`). */
const PIECE = 64 * 1024;

/**
 * Writes to `res` with backpressure, in pieces of at most {@link PIECE} bytes; a piece the
 * client does not take within `stallMs` ends the connection (which fails the write).
 */
function stalledSink(
  res: ServerResponse,
  signal: AbortSignal,
  stallMs: number,
): WritableStream<Uint8Array> {
  const sink = stdoutSink(res, { signal }).getWriter();
  const stalled = () => res.destroy();
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      for (let at = 0; at < chunk.length; at += PIECE) {
        const timer = setTimeout(stalled, stallMs);
        try {
          await sink.write(chunk.subarray(at, at + PIECE));
        } finally {
          clearTimeout(timer);
        }
      }
    },
    close: () => sink.close(),
    abort: (reason) => sink.abort(reason),
  });
}
