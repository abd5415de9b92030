/**
 * `serveRegistry` in this process, over the registry handler with one pull turn: a client that
 * stops reading is cut off after the stall timeout, and requests given up while they wait for
 * the turn leave the queue without reading a chunk. Chunk reads are counted by digest through
 * a store wrapper.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHashProvider } from '../../src/node/hash.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { PackStore } from '../../src/node/pack-store.js';
import { type RunningRegistry, serveRegistry } from '../../src/node/serve-registry.js';
import { createRegistryHandler } from '../../src/registry/handler.js';
import { openRepository, type RegistryRepository } from '../../src/registry/repository.js';
import type { ChunkReader } from '../../src/store/types.js';
import { requireDist, runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { deferred } from '../helpers/deferred.js';
import { sha256 } from '../helpers/streams.js';
import { buildLayout } from '../oci/helpers.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { startServe, stopServe } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-serve-registry-'));
const hash = nodeHashProvider();
/**
 * 64 MiB of zeros (a few chunks, read again and again): more than the connection's buffers on
 * both sides hold, so a client that stops reading stalls the body.
 */
const big = layerTar([{ type: 'file', path: 'zeros', body: new Uint8Array(64 << 20) }]);
const small = (seed: number) =>
  layerTar([{ type: 'file', path: `opt/tool-${seed}`, body: pseudoRandom(300_000, seed) }]);
let store: PackStore;
let repo: RegistryRepository;
/** Layer digests: the big one, and two small ones. */
let layers: { big: string; x: string; y: string };

beforeAll(async () => {
  const src = join(work, 'src');
  buildLayout(src, [
    {
      tag: 'v1',
      layers: [
        { tar: big, compress: 'none' },
        { tar: small(1), compress: 'none' },
        { tar: small(2), compress: 'none' },
      ],
    },
  ]);
  store = await PackStore.open(join(work, 'store'));
  await convertLayout(src, { store, out: join(work, 'chunked'), hash });
  repo = await openRepository(await OciLayout.open(join(work, 'chunked')), { hash });
  layers = { big: sha256(big), x: sha256(small(1)), y: sha256(small(2)) };
}, 60_000);
afterAll(async () => {
  await store?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A registry with `maxPulls` pull turns (one by default) whose chunk reads go through `reads`. */
function start(
  reads: ChunkReader,
  stallTimeoutMs?: number,
  maxPulls = 1,
): Promise<RunningRegistry> {
  const handler = createRegistryHandler({
    repositories: new Map([['img', repo]]),
    store: reads,
    hash,
    maxPulls,
  });
  return serveRegistry(handler, stallTimeoutMs === undefined ? {} : { stallTimeoutMs });
}

/** Polls (every 10 ms, at most 10 s) until `check` holds. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i === 1000) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sends a GET for a blob on a connection of its own; resolves once the request is sent. */
function rawGet(url: string, digest: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET /v2/img/blobs/${digest} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** A raw connection to the server (its errors ignored: the server may end it), connected. */
async function connectTo(hostname: string, port: string): Promise<Socket> {
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return socket;
}

/** A pipelined GET of `/p/<n>`. */
const pipelined = (n: number) => `GET /p/${n} HTTP/1.1\r\nHost: x\r\n\r\n`;

/**
 * A server with `maxPipelined` answering each request with its number (`x-n`), the first
 * (`/p/1`, with a body of 1 MiB) only once `gate` opens, and a raw connection to it: what the
 * server took in on it, and the numbers answered on it so far, in order.
 */
async function pipelining(maxPipelined: number) {
  const gate = deferred();
  const body = new Uint8Array(1 << 20);
  const handler = async (request: Request) => {
    const n = new URL(request.url).pathname.split('/').pop() ?? '';
    if (n === '1') await gate.promise;
    const headers = { 'x-n': n, 'content-length': String(n === '1' ? body.length : 0) };
    return new Response(n === '1' ? body : null, { headers });
  };
  const running = await serveRegistry(handler, { maxPipelined });
  let taken = 0;
  running.server.on('request', (req: { url?: string }) => {
    if (req.url?.startsWith('/p/')) taken++;
  });
  const { hostname, port } = new URL(running.url);
  const socket = await connectTo(hostname, port);
  const seen = watch(socket);
  let text = '';
  socket.on('data', (b: Buffer) => {
    text += b.toString('latin1');
  });
  return {
    running,
    socket,
    seen,
    gate,
    taken: () => taken,
    answered: () => [...text.matchAll(/^x-n: (\d+)\r$/gim)].map((m) => Number(m[1])),
    end: async () => {
      gate.resolve();
      socket.destroy();
      await running.close();
    },
  };
}

/** The server's side of each connection it takes, by the client's port. */
function serverSockets(running: RunningRegistry): Map<number, Socket> {
  const byPort = new Map<number, Socket>();
  running.server.on('connection', (s: Socket) => byPort.set(s.remotePort!, s));
  return byPort;
}

/** Counts the bytes a socket receives, and tells whether it closed. */
function watch(socket: Socket): { got: number; closed: boolean } {
  const seen = { got: 0, closed: false };
  socket.on('data', (b: Buffer) => {
    seen.got += b.length;
  });
  socket.on('close', () => {
    seen.closed = true;
  });
  return seen;
}

describe('serveRegistry', () => {
  it('ends the connection of a client that stops reading mid-body, which frees its turn', async () => {
    const running = await start(store, 200);
    const sockets = serverSockets(running);
    try {
      const socket = await rawGet(running.url, layers.big);
      const seen = watch(socket);
      // Reads the first bytes, then nothing more (a paused socket does not even see the
      // connection end: the server's side is watched).
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.pause();
      await until(
        () => sockets.get(socket.localPort!)?.destroyed === true,
        'the server to end the stalled connection',
      );
      // Read on, the client gets what the connection still held, then its end: not the blob.
      socket.resume();
      await until(() => seen.closed, 'the client to see the connection end');
      expect(seen.got).toBeGreaterThan(0);
      expect(seen.got).toBeLessThan(big.length);
      // The turn is free: a range (one small write, so the timeout cannot cut it) is served.
      const r = await fetch(`${running.url}/v2/img/blobs/${layers.big}`, {
        headers: { range: 'bytes=0-1023' },
        signal: AbortSignal.timeout(10_000),
      });
      expect(r.status).toBe(206);
      expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(big.subarray(0, 1024)))).toBe(
        true,
      );
    } finally {
      await running.close();
    }
  });

  it('frees the turn of a client that stops reading and then goes away', async () => {
    const running = await start(store);
    const sockets = serverSockets(running);
    try {
      const socket = await rawGet(running.url, layers.big);
      await new Promise<void>((resolve) => socket.once('data', () => resolve()));
      socket.pause();
      // The server's write waits for the client when the client goes.
      const port = socket.localPort!;
      await until(() => sockets.get(port)?.writableNeedDrain === true, 'the body to stall');
      socket.destroy();
      const r = await fetch(`${running.url}/v2/img/blobs/${layers.big}`, {
        headers: { range: 'bytes=0-1023' },
        signal: AbortSignal.timeout(10_000),
      });
      expect(r.status).toBe(206);
      expect((await r.arrayBuffer()).byteLength).toBe(1024);
    } finally {
      await running.close();
    }
  });

  it('answers a pipelined request once the response before it is written: its stall timer waits too', async () => {
    // The chunks one pull of x reads; every other chunk read waits for `gate` once armed.
    const xChunks = new Set<string>();
    let recording = true;
    let armed = false;
    let held = 0;
    const gate = deferred();
    const gated: ChunkReader = {
      async get(digest, into) {
        if (recording) xChunks.add(digest);
        else if (armed && !xChunks.has(digest)) {
          held++;
          await gate.promise;
        }
        return store.get(digest, into);
      },
    };
    // Two turns: the pipelined pull of x has one at once, as soon as it is answered.
    const running = await start(gated, 1000, 2);
    try {
      const r = await fetch(`${running.url}/v2/img/blobs/${layers.x}`, {
        signal: AbortSignal.timeout(10_000),
      });
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(layers.x);
      recording = false;
      armed = true;
      const { hostname, port } = new URL(running.url);
      const socket = await connectTo(hostname, port);
      const seen = watch(socket);
      const get = (d: string) => `GET /v2/img/blobs/${d} HTTP/1.1\r\nHost: x\r\n\r\n`;
      socket.write(get(layers.big) + get(layers.x));
      await until(() => held > 0, 'the first body to wait for a chunk');
      // Longer than the stall timeout: the pull of x, queued behind, was written to no
      // connection meanwhile (before, its timer ran, and ended the connection after the first).
      await new Promise((r) => setTimeout(r, 2500));
      gate.resolve();
      const both = big.length + small(1).length;
      await until(() => seen.got > both || seen.closed, 'both bodies');
      expect(seen.closed).toBe(false);
      expect(seen.got).toBeGreaterThan(both);
      socket.destroy();
    } finally {
      gate.resolve();
      await running.close();
    }
  });

  it('answers up to maxPipelined pipelined requests in order, on a connection that stays open', async () => {
    const p = await pipelining(4);
    try {
      p.socket.write([1, 2, 3, 4].map(pipelined).join(''));
      await until(() => p.taken() === 4, 'four requests taken in');
      expect(p.seen.got).toBe(0);
      p.gate.resolve();
      await until(() => p.answered().length === 4 || p.seen.closed, 'four answers');
      expect(p.answered()).toEqual([1, 2, 3, 4]);
      // The connection serves on: four more, all answered at once.
      p.socket.write([5, 6, 7, 8].map(pipelined).join(''));
      await until(() => p.answered().length === 8 || p.seen.closed, 'eight answers');
      expect(p.answered()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(p.seen.closed).toBe(false);
    } finally {
      await p.end();
    }
  });

  it('ends a connection with more than maxPipelined requests unanswered, answering none of them', async () => {
    const p = await pipelining(4);
    const { running } = p;
    try {
      // Forty in one write, read by the server at once.
      p.socket.write(Array.from({ length: 40 }, (_, i) => pipelined(i + 1)).join(''));
      await until(() => p.seen.closed, 'the server to end the connection');
      expect(p.taken()).toBeGreaterThan(4);
      // The first answer was held, and the others were not to come before it.
      expect(p.seen.got).toBe(0);
      p.gate.resolve();
      // The server serves on.
      const r = await fetch(`${running.url}/other/0`, { signal: AbortSignal.timeout(10_000) });
      expect(r.headers.get('x-n')).toBe('0');
    } finally {
      await p.end();
    }
  });

  it('closes a connection past maxConnections as it comes, and takes one again once another went', async () => {
    let taken = 0;
    const handler = async (request: Request) => {
      taken++;
      return new Response(new URL(request.url).pathname);
    };
    const running = await serveRegistry(handler, { maxConnections: 2 });
    const { hostname, port } = new URL(running.url);
    /** A connection that sent one request; resolves with it once it is answered or closed. */
    const ask = async (n: number) => {
      const socket = await connectTo(hostname, port);
      const seen = watch(socket);
      socket.write(`GET /p/${n} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => seen.got > 0 || seen.closed, `an answer or a close for /p/${n}`);
      return { socket, seen };
    };
    const open: Socket[] = [];
    try {
      const a = await ask(1);
      const b = await ask(2);
      open.push(a.socket, b.socket);
      expect([a.seen.closed, b.seen.closed]).toEqual([false, false]);
      const c = await ask(3);
      open.push(c.socket);
      await until(() => c.seen.closed, 'the third connection to be closed');
      expect(c.seen.got).toBe(0);
      expect(taken).toBe(2);
      a.socket.destroy();
      // The server counts a connection gone once its socket closed on its side.
      for (let i = 0; ; i++) {
        const n = await new Promise<number>((r) => running.server.getConnections((_, c) => r(c)));
        if (n === 1) break;
        if (i === 1000) throw new Error('gave up waiting: the server to see a connection go');
        await new Promise((r) => setTimeout(r, 10));
      }
      const d = await ask(4);
      open.push(d.socket);
      expect(d.seen.got).toBeGreaterThan(0);
      expect(taken).toBe(3);
    } finally {
      for (const s of open) s.destroy();
      await running.close();
    }
  });

  it('ends the connection of a client that reads none of its answers with no body, after the stall timeout', async () => {
    // Answers of 60 KB of headers and no body: 256 of them (15 MB) fill the connection's buffers.
    const pad = 'a'.repeat(60_000);
    const handler = async (request: Request) =>
      new Response(
        null,
        new URL(request.url).pathname === '/p' ? { headers: { 'x-pad': pad } } : {},
      );
    const running = await serveRegistry(handler, { maxPipelined: 300, stallTimeoutMs: 500 });
    const { hostname, port } = new URL(running.url);
    const socket = await connectTo(hostname, port);
    // It reads nothing (so it would not see the connection end either: the server's count
    // tells).
    socket.pause();
    const count = () => new Promise<number>((r) => running.server.getConnections((_, n) => r(n)));
    try {
      socket.write('HEAD /p HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(256));
      // Before, nothing timed an answer with no body: the connection stayed for good.
      for (let i = 0; (await count()) > 0; i++) {
        if (i === 1000) throw new Error('gave up waiting: the server to end the connection');
        await new Promise((r) => setTimeout(r, 10));
      }
      // The server serves on.
      const r = await fetch(`${running.url}/other`, {
        method: 'HEAD',
        signal: AbortSignal.timeout(10_000),
      });
      expect(r.status).toBe(200);
    } finally {
      socket.destroy();
      await running.close();
    }
  });

  it('refuses a maxPipelined or maxConnections that is not a whole number from 1', async () => {
    const handler = createRegistryHandler({ repositories: new Map(), store, hash });
    for (const option of ['maxPipelined', 'maxConnections']) {
      for (const n of [0, -1, 2.5, Number.NaN]) {
        await expect(serveRegistry(handler, { [option]: n })).rejects.toThrow(option);
      }
    }
  });

  it('refuses a stall timeout that is not a whole number of milliseconds from 1', async () => {
    const handler = createRegistryHandler({ repositories: new Map(), store, hash });
    for (const ms of [0, -5, 1.5, Number.NaN, 2 ** 31]) {
      await expect(serveRegistry(handler, { stallTimeoutMs: ms })).rejects.toThrow(
        /stallTimeoutMs/,
      );
    }
  });

  it('requests given up while they wait for a turn leave the queue: no chunk read for them', async () => {
    // Reads of layer x's chunks wait until `gate` opens, so a pull of x holds the turn.
    const gate = deferred();
    let gated = true;
    const reads = new Map<string, number>();
    const counting: ChunkReader = {
      async get(digest, into) {
        reads.set(digest, (reads.get(digest) ?? 0) + 1);
        if (gated && xChunks.has(digest)) await gate.promise;
        return store.get(digest, into);
      },
    };
    const running = await start(counting);
    const sockets = serverSockets(running);
    let requests = 0;
    running.server.on('request', () => requests++);
    const blobUrl = (d: string) => `${running.url}/v2/img/blobs/${d}`;
    // One pull of each small layer with the gate open: which chunks each reads.
    const chunksOf = async (d: string) => {
      const before = new Map(reads);
      const r = await fetch(blobUrl(d), { signal: AbortSignal.timeout(10_000) });
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(d);
      return new Map(
        [...reads]
          .filter(([k, n]) => n !== (before.get(k) ?? 0))
          .map(([k, n]) => [k, n - (before.get(k) ?? 0)]),
      );
    };
    const xChunks = new Set<string>();
    gated = false;
    const xPull = await chunksOf(layers.x);
    const yPull = await chunksOf(layers.y);
    // Chunks of one layer only (the two random files end in chunks of their own).
    for (const k of xPull.keys()) if (!yPull.has(k)) xChunks.add(k);
    for (const k of xPull.keys()) yPull.delete(k);
    expect(xChunks.size).toBeGreaterThan(0);
    expect(yPull.size).toBeGreaterThan(0);
    gated = true;
    const sum = (keys: Iterable<string>) => [...keys].reduce((n, k) => n + (reads.get(k) ?? 0), 0);
    const yReads = () => sum(yPull.keys());
    const xBefore = sum(xChunks);
    const yOnce = [...yPull.values()].reduce((a, b) => a + b, 0);
    try {
      // x holds the turn (its chunk reads wait); three pulls of y queue behind it.
      const holder = await rawGet(running.url, layers.x);
      holder.on('error', () => {});
      await until(() => sum(xChunks) > xBefore, 'x to take the turn');
      const seen = requests;
      const waiting = await Promise.all([1, 2, 3].map(() => rawGet(running.url, layers.y)));
      await until(() => requests === seen + 3, 'the three pulls of y to arrive');
      // Given up: their connections close, and the server sees them close.
      const ports = waiting.map((s) => s.localPort!);
      for (const s of waiting) s.destroy();
      await until(
        () => ports.every((p) => sockets.get(p)?.destroyed === true),
        'the server to see the three connections close',
      );
      const before = yReads();
      // x's client goes too: its turn passes on.
      holder.destroy();
      gate.resolve();
      const r = await fetch(blobUrl(layers.y), { signal: AbortSignal.timeout(10_000) });
      expect(sha256(Buffer.from(await r.arrayBuffer()))).toBe(layers.y);
      // Only that pull read y's chunks.
      expect(yReads() - before).toBe(yOnce);
    } finally {
      gate.resolve();
      await running.close();
    }
  });

  it('layerdiff serve takes --stall-timeout in whole seconds', async () => {
    requireDist();
    for (const [value, message] of [
      ['0', /--stall-timeout must be a positive integer/],
      ['1.5', /--stall-timeout must be a positive integer/],
      ['2147484', /--stall-timeout must be at most 2147483/],
    ] as const) {
      const r = await runCli([
        'serve',
        join(work, 'chunked'),
        '--store',
        join(work, 'nowhere'),
        '--stall-timeout',
        value,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('layerdiff serve takes --max-pipelined: with 1, ten pipelined requests read at once end the connection', async () => {
    requireDist();
    const r = await runCli([
      'serve',
      join(work, 'chunked'),
      '--store',
      join(work, 'nowhere'),
      '--max-pipelined',
      '0',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-pipelined must be a positive integer/);
    const served = await startServe([
      `img=${join(work, 'chunked')}`,
      '--store',
      join(work, 'store'),
      '--max-pipelined',
      '1',
    ]);
    try {
      const [hostname, port] = served.host.split(':') as [string, string];
      const socket = await connectTo(hostname, port);
      const seen = watch(socket);
      let text = '';
      socket.on('data', (b: Buffer) => {
        text += b.toString('latin1');
      });
      // Parsed in one go, before any is answered: two unanswered (more than 1) end it.
      socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(10));
      const answers = () => text.match(/HTTP\/1\.1 200 /g)?.length ?? 0;
      await until(() => seen.closed || answers() === 10, 'the server to end the connection');
      // Before, all ten were answered (the default bound is 32).
      expect(answers()).toBeLessThan(10);
      expect(seen.closed).toBe(true);
    } finally {
      expect(await stopServe(served)).toBe(0);
    }
  });

  it('layerdiff serve takes --max-connections: with 1, a second connection is closed as it comes', async () => {
    requireDist();
    const served = await startServe([
      `img=${join(work, 'chunked')}`,
      '--store',
      join(work, 'store'),
      '--max-connections',
      '1',
    ]);
    const sockets: Socket[] = [];
    try {
      const [hostname, port] = served.host.split(':') as [string, string];
      const seen: { got: number; closed: boolean }[] = [];
      for (let i = 0; i < 2; i++) {
        const socket = await connectTo(hostname, port);
        sockets.push(socket);
        seen.push(watch(socket));
        socket.write('GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n');
        await until(
          () => seen[i]!.got > 0 || seen[i]!.closed,
          `connection ${i + 1} answered or closed`,
        );
      }
      await until(() => seen[1]!.closed, 'the second connection to be closed');
      expect(seen.map((s) => s.got > 0)).toEqual([true, false]);
      expect(seen[0]!.closed).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      expect(await stopServe(served)).toBe(0);
    }
  });
});
