/**
 * A Worker converting layers as they are pushed, in real workerd (`workerd serve`, no
 * compatibility flags): a layer PUT to it over a socket on 127.0.0.1, in a streaming request
 * body, is converted as it arrives, its new chunks and its index written to an upstream chunk
 * store (a node:http server of the test's), and the layer rebuilt from what the upstream got.
 * Needs `npm run build` first.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader } from '../../src/tar/header.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';
import { freePort } from '../registry/helpers.js';
import { makeWebFixtures, type WebFixtureDigests } from '../web/fixtures.js';
import { renderConfig } from './render-config.js';
import { type RunningWorkerd, startWorkerd } from './start-workerd.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '.fixtures-convert');

/** The upstream store: chunks by digest (each PUT checked against its digest), the last index. */
const chunks = new MemoryStore();
let index = new Uint8Array(0);
let server: Server;
let worker: RunningWorkerd;
let url: string;
let expected: WebFixtureDigests;

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function upstream(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunk = /^\/chunks\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
  if (chunk && req.method === 'HEAD') {
    res.writeHead((await chunks.has(chunk[1]!)) ? 200 : 404).end();
  } else if (chunk && req.method === 'PUT') {
    const bytes = await body(req);
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== chunk[1]) {
      res.writeHead(400).end('not the bytes of that digest\n');
      return;
    }
    res.writeHead((await chunks.put(chunk[1]!, new Uint8Array(bytes))) ? 201 : 200).end();
  } else if (req.url === '/index' && req.method === 'PUT') {
    index = new Uint8Array(await body(req));
    res.writeHead(201).end();
  } else {
    res.writeHead(404).end();
  }
}

const MiB = 1024 * 1024;

/**
 * A tar of one file of `mib` MiB, a random MiB over and over (so that the upstream store,
 * which keeps chunks in this process, holds about one MiB of them), made as it is read.
 */
function repeatingLayer(mib: number): ReadableStream<Uint8Array> {
  const block = pseudoRandom(MiB, mib);
  let sent = 0;
  return new ReadableStream(
    {
      pull(controller) {
        if (sent === 0)
          controller.enqueue(
            encodeHeader({ path: 'data.bin', size: mib * MiB, mode: 0o644, mtime: 1_700_000_000 }),
          );
        if (sent < mib) controller.enqueue(block.slice());
        else if (sent === mib) controller.enqueue(new Uint8Array(1024));
        else controller.close();
        sent++;
      },
    },
    { highWaterMark: 0 },
  );
}

/** PUTs `bytes` to the Worker as a streaming body in odd pieces; gives its JSON answer. */
async function push(bytes: Uint8Array): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/layers`, {
    method: 'PUT',
    body: streamOf(bytes, 7919),
    duplex: 'half',
  } as RequestInit);
  const answer = (await response.json()) as Record<string, unknown>;
  expect(response.status, `${JSON.stringify(answer)}\n${worker.log()}`).toBe(200);
  return answer;
}

/** The tar rebuilt from the index and chunks the upstream store got. */
async function rebuilt(): Promise<string> {
  return sha256(await collect(reassemble(streamOf(index), chunks)));
}

beforeAll(async () => {
  rmSync(fixtures, { recursive: true, force: true });
  mkdirSync(fixtures);
  expected = makeWebFixtures(fixtures);
  server = createServer((req, res) => {
    upstream(req, res).catch((err) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeFileSync(join(fixtures, 'upstream.json'), JSON.stringify({ base }));
  const host = `127.0.0.1:${await freePort()}`;
  url = `http://${host}`;
  const config = renderConfig(join(here, 'convert.capnp'), fixtures, { address: host });
  worker = await startWorkerd(config, `${url}/`);
}, 60_000);

afterAll(() => {
  worker?.child.kill('SIGKILL');
  server?.closeAllConnections();
  server?.close();
});

describe('a Worker converting pushed layers', () => {
  it('converts a tar+gzip PUT to it as it arrives, into the upstream store', async () => {
    const gzip = new Uint8Array(readFileSync(join(fixtures, 'layer.tar.gz')));
    const result = await push(gzip);
    expect(result.diffId).toBe(expected.tarDigest);
    expect(result.blobDigest).toBe(expected.gzipDigest);
    expect(result.compression).toBe('gzip');
    // Data chunks, and the chunks of the index itself (a chunked index lives in the store).
    const { newIndexChunks } = result.index as { newIndexChunks: number };
    expect((result.newChunks as number) + newIndexChunks).toBe(chunks.size);
    expect(await rebuilt()).toBe(expected.tarDigest);
  });

  it('sends only the chunks upstream lacks: the same layer as tar+zstd sends none', async () => {
    const before = chunks.size;
    const zstd = new Uint8Array(readFileSync(join(fixtures, 'layer.tar.zst')));
    const result = await push(zstd);
    expect(result.diffId).toBe(expected.tarDigest);
    expect(result.blobDigest).toBe(expected.zstdDigest);
    expect(result.newChunks).toBe(0);
    // Only the index's records that name the blob differ.
    const { newIndexChunks } = result.index as { newIndexChunks: number };
    expect(chunks.size).toBe(before + newIndexChunks);
    expect(await rebuilt()).toBe(expected.tarDigest);
  });

  it('holds no layer whole: its peak memory is the same for 64 MiB and 256 MiB layers', async () => {
    /** workerd's peak resident memory so far. */
    const peak = () => {
      const status = readFileSync(`/proc/${worker.child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
    };
    const peaks: number[] = [];
    // Not from 32 MiB: workerd's heap was still growing then (peaks of 132.6, 171.2, 171.2
    // and 171.2 MiB after layers of 32, 64, 256 and 512 MiB, 2026-11-30).
    for (const mib of [64, 256]) {
      const response = await fetch(`${url}/layers`, {
        method: 'PUT',
        body: repeatingLayer(mib),
        duplex: 'half',
      } as RequestInit);
      const result = (await response.json()) as Record<string, unknown>;
      expect(response.status, JSON.stringify(result)).toBe(200);
      expect(result.tarSize).toBe(mib * MiB + 1536);
      peaks.push(peak());
    }
    // Holding the larger layer would take 192 MiB more.
    expect(
      peaks[1]! - peaks[0]!,
      `peaks ${peaks.map((p) => (p / MiB).toFixed(1))} MiB`,
    ).toBeLessThan(24 * MiB);
  }, 60_000);

  it('answers a layer that is not a tar with the typed error', async () => {
    const response = await fetch(`${url}/layers`, {
      method: 'PUT',
      body: new Uint8Array(2048).fill(0x41),
    });
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: string }).error).toMatch(/^ERR_TAR/);
  });
});
