/**
 * Random access to a bundle over HTTP Range, from a real node:http server on 127.0.0.1 that
 * counts the bytes it sends: the whole layer rebuilds exactly, and reading one small file
 * fetches only the zip's directory, the index and that file's chunk, a small fraction of the zip.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpRangeReader } from '@zip.js/zip.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBundle } from '../../src/bundle/open-bundle.js';
import { unbundle } from '../../src/bundle/unbundle.js';
import type { ChunkRef } from '../../src/format/records.js';
import { formatDigest } from '../../src/hash/digest.js';
import { readIndexRecords } from '../../src/pipeline/open-index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash, reassembleBytes } from '../helpers/layers.js';
import { answerWithRanges } from '../helpers/servers.js';
import { readAll, streamOf, within } from '../helpers/streams.js';
import { bundleBytes, expectSame, tarOf, textBytes } from './helpers.js';

const SMALL = new TextEncoder().encode('only this file is wanted\n');

let server: Server;
let url: string;
let zip: Uint8Array;
let tar: Uint8Array;
/** Body bytes sent and requests served since the last reset. */
const served = { bytes: 0, requests: 0, ranges: [] as string[] };

/** Serves the zip with ranges, counting what it sends. */
function serve(bytes: Uint8Array): Server {
  return createServer((req, res) => {
    served.requests++;
    const sent = answerWithRanges(req, res, bytes, 'application/zip');
    if (sent?.partial) served.ranges.push(`${sent.start}-${sent.end}`);
    if (sent && req.method !== 'HEAD') served.bytes += sent.end - sent.start + 1;
  });
}

function reset() {
  served.bytes = 0;
  served.requests = 0;
  served.ranges = [];
}

beforeAll(async () => {
  // Three large random files (about 3 MiB of data chunks) and one small text file.
  tar = tarOf([
    ['big/a.bin', pseudoRandom(1 << 20, 21)],
    ['big/b.bin', pseudoRandom(1 << 20, 22)],
    ['etc/small.txt', SMALL],
    ['big/c.bin', pseudoRandom(1 << 20, 23)],
    ['share/doc.txt', textBytes(200_000, 24)],
  ]);
  const store = new MemoryStore();
  const { index } = await convertBytes(tar, store);
  zip = await bundleBytes(index, store);
  server = serve(zip);
  // Idle keep-alive connections stay open for the client to reuse between tests.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/layer.zip`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The chunk references of one file's body, found by walking the index's records. */
async function refsOf(
  path: string,
  root: Uint8Array,
  bundle: Awaited<ReturnType<typeof openBundle>>,
) {
  const records = await readAll(readIndexRecords(streamOf(root), bundle, { hash }));
  const refs: ChunkRef[] = [];
  let inFile = false;
  for (const r of records) {
    if (r.type === 'entry' || r.type === 'delete')
      inFile = r.type === 'entry' && r.entry.path === path;
    else if (r.type === 'chunks' && inFile) refs.push(...r.refs);
  }
  return refs;
}

describe('a bundle over HTTP Range', () => {
  it('rebuilds the exact tar straight from the server', async () => {
    reset();
    const bundle = await within(openBundle(new HttpRangeReader(url), { hash }), 10_000);
    const root = await bundle.root();
    expectSame(await within(reassembleBytes(root, bundle), 20_000), tar);
    expect(served.ranges.length).toBeGreaterThan(0);
  });

  it('reads one small file fetching a small fraction of the zip', async () => {
    reset();
    const bundle = await within(openBundle(new HttpRangeReader(url), { hash }), 10_000);
    const root = await bundle.root();
    const refs = await within(refsOf('etc/small.txt', root, bundle), 10_000);
    expect(refs.length).toBe(1);
    const body = await bundle.get(formatDigest(refs[0]!.digest));
    expect(body).toEqual(SMALL);
    const fraction = served.bytes / zip.length;
    console.info(
      `HTTP Range: ${served.bytes} of ${zip.length} bytes (${(fraction * 100).toFixed(2)}%) in ${served.requests} requests for one small file`,
    );
    expect(served.bytes).toBeLessThan(zip.length / 20);
  });

  it('unbundles over HTTP into an empty store', async () => {
    const store = new MemoryStore();
    const { root, newChunks } = await within(
      unbundle(new HttpRangeReader(url), store, { hash }),
      20_000,
    );
    expect(newChunks).toBe(store.size);
    expectSame(await reassembleBytes(root, store), tar);
  });
});
