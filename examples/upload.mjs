// @ts-check
/**
 * Streaming upload: a layer is converted into a diff stream that goes straight into
 * `fetch(url, { method: 'PUT', body, duplex: 'half' })`, and a local HTTP server on 127.0.0.1
 * ingests the request body into its chunk store as it arrives (`applyDiff`), then rebuilds the
 * layer to check it. Neither side ever holds the layer, a file or the body whole (both run in
 * this one process here; `npm run bench` measures them as two processes).
 *
 * Run: npm run build && node examples/upload.mjs [size in MiB, default 64]
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyDiff, createDiff, encodeHeader, MemoryStore, reassemble } from 'layerdiff';
import { nodeChunkCodec, nodeHashProvider, nodeReadableSource, openStore } from 'layerdiff/node';

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 64) * MiB;

/**
 * A tar of one `size`-byte file of pseudo-random bytes and a small text file, produced piece by
 * piece as it is read.
 */
function generatedLayer(size) {
  const text = new TextEncoder().encode('hello from a layer\n'.repeat(100));
  const parts = [
    () =>
      encodeHeader({
        path: 'data/big.bin',
        size,
        mode: 0o644,
        mtime: { sec: 1700000000, nsec: 0 },
      }),
    ...bodyOf(size),
    () => new Uint8Array((512 - (size % 512)) % 512),
    () =>
      encodeHeader({
        path: 'etc/motd',
        size: text.length,
        mode: 0o644,
        mtime: { sec: 1700000000, nsec: 0 },
      }),
    () => text,
    () => new Uint8Array((512 - (text.length % 512)) % 512),
    () => new Uint8Array(1024),
  ];
  let i = 0;
  return new ReadableStream(
    {
      pull(c) {
        if (i >= parts.length) return c.close();
        const next = /** @type {() => Uint8Array} */ (parts[i++]);
        c.enqueue(next());
      },
    },
    { highWaterMark: 0 },
  );
}

/** Piece generators for `n` pseudo-random bytes (xorshift32), 1 MiB at a time. */
function bodyOf(n) {
  let x = 2463534242;
  const out = [];
  for (let at = 0; at < n; at += MiB) {
    const len = Math.min(MiB, n - at);
    out.push(() => {
      const piece = new Uint8Array(len);
      for (let k = 0; k < len; k++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        piece[k] = x & 0xff;
      }
      return piece;
    });
  }
  return out;
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const dir = await mkdtemp(join(tmpdir(), 'layerdiff-upload-'));
const hash = nodeHashProvider();
const store = await openStore(join(dir, 'store'));

// The receiving end: PUT /layers/<name> ingests the body into the store as it streams in.
const server = createServer(async (req, res) => {
  try {
    if (req.method !== 'PUT' || !req.url?.startsWith('/layers/')) {
      res.writeHead(405).end();
      return;
    }
    // Pulled from the request only as applyDiff asks.
    const body = nodeReadableSource(req);
    const applied = await applyDiff(body, store, { hash, codec: nodeChunkCodec() });
    // Rebuild it from the store, every chunk and the diff_id verified.
    const check = createHash('sha256');
    const root = new ReadableStream({
      start(c) {
        c.enqueue(applied.root);
        c.close();
      },
    });
    const tar = reassemble(root, store, { hash }).getReader();
    for (let r = await tar.read(); !r.done; r = await tar.read()) check.update(r.value);
    const { root: _root, ...totals } = applied;
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...totals, rebuilt: `sha256:${check.digest('hex')}` }));
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(err));
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
const address = server.address();
if (!address || typeof address === 'string') throw new Error('no address');

// The sending end: the diff (no bases: everything) streams straight into the request body.
const sent = createHash('sha256');
const layer = generatedLayer(size).pipeThrough(
  new TransformStream({
    transform(piece, c) {
      sent.update(piece);
      c.enqueue(piece);
    },
  }),
);
const { stream, done } = createDiff(layer, { bases: [], store: new MemoryStore(), hash });
const started = performance.now();
const response = await fetch(`http://127.0.0.1:${address.port}/layers/example`, {
  method: 'PUT',
  body: stream,
  // @ts-expect-error: Node's fetch needs `duplex` for a streaming body; lib.dom does not declare it.
  duplex: 'half',
});
const reply = await response.json().catch(() => ({}));
const diff = await done;
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
server.close();
await rm(dir, { recursive: true, force: true });

const layerDigest = `sha256:${sent.digest('hex')}`;
console.log(`status ${response.status}`);
console.log(`layer ${size} bytes, diff_id ${diff.diffId}`);
console.log(
  `uploaded ${diff.diffBytes} bytes in ${seconds.toFixed(2)} s; peak RSS ${(peakRss / MiB).toFixed(0)} MiB (both ends, one process)`,
);
console.log(`server: ${JSON.stringify(reply)}`);
if (
  response.status !== 201 ||
  reply.diffId !== layerDigest ||
  reply.rebuilt !== layerDigest ||
  diff.diffId !== layerDigest
) {
  console.error('upload did not round-trip');
  process.exit(1);
}
console.log('the server rebuilt the exact layer');
