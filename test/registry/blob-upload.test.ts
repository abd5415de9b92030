/**
 * `uploadBlob` on its own, into the registry of our own that keeps what a cut request sent:
 * a slow blob resumed deep in is not given up as stalled while the bytes the registry holds
 * are made again; a new upload's `POST` that fails once is asked again; a status that says
 * `0-0` starts anew; an upload given up while asking where it stands is deleted.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it } from 'vitest';
import { webHashProvider } from '../../src/hash/web.js';
import { nodeHttpFetch } from '../../src/node/http-fetch.js';
import { uploadBlob } from '../../src/registry/blob-upload.js';
import { parseImageReference } from '../../src/registry/names.js';
import { openSession } from '../../src/registry/session.js';
import { startUploadRegistry, type UploadRegistry } from './upload-registry.js';

const data = new Uint8Array(20_000).map((_, i) => (i * 7) % 251);
const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** The blob in 1,000-byte pieces, each made in `delayMs` (a slow rebuild, gzip say). */
const source = (delayMs: number) => () => {
  let i = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (i === 20) return c.close();
        await new Promise((r) => setTimeout(r, delayMs));
        c.enqueue(data.slice(i * 1000, ++i * 1000));
      },
    },
    { highWaterMark: 0 },
  );
};

/** Uploads the blob into `reg` (`fetch` in between when given); the result or the error. */
const upload = (
  reg: UploadRegistry,
  options: { fetch?: typeof fetch; idleTimeoutMs?: number; delayMs?: number } = {},
) => {
  const session = openSession(parseImageReference(`${reg.host}/x`), 'pull,push', {
    plainHttp: true,
    retryDelayMs: 10,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
  });
  const has = async (d: string) => reg.blobs.has(d);
  return uploadBlob(
    { session, hash: webHashProvider(), has },
    source(options.delayMs ?? 0),
    digest,
    data.length,
  ).catch((e: unknown) => e);
};

const cutFirstPut = (keep: number) => {
  let puts = 0;
  return (r: { method: string }) => (r.method === 'PUT' && ++puts === 1 ? keep : undefined);
};

it('makes the bytes the registry holds before sending on: a slow rebuild is no stall', async () => {
  // 40 ms a piece, 300 ms idle timeout: the 12 pieces held take about 480 ms to make again.
  const reg = await startUploadRegistry({ cut: cutFirstPut(12_000) });
  try {
    const r = await upload(reg, { idleTimeoutMs: 300, delayMs: 40 });
    expect(r).toMatchObject({ kept: true, resumed: 1 });
    expect(reg.requests.filter((q) => q.method === 'PUT').map((q) => q.range)).toEqual([
      undefined,
      '12000-19999',
    ]);
    expect(reg.blobs.get(digest)).toEqual(Buffer.from(data));
  } finally {
    reg.close();
  }
}, 30_000);

it('asks again for a new upload whose POST fails once', async () => {
  const reg = await startUploadRegistry({ cut: cutFirstPut(10_000) });
  let posts = 0;
  // The status says the upload is lost; the new upload's POST is answered 503 once.
  const f: typeof fetch = async (u, i) => {
    if (i?.method === 'GET' && String(u).includes('/uploads/')) {
      return new Response(null, { status: 404 });
    }
    if (i?.method === 'POST' && ++posts === 2) return new Response('busy', { status: 503 });
    return fetch(u, i);
  };
  try {
    const r = await upload(reg, { fetch: f });
    expect(r).toMatchObject({ kept: true, resumed: 2 });
    expect(reg.blobs.get(digest)).toEqual(Buffer.from(data));
  } finally {
    reg.close();
  }
});

it('starts anew where the status says 0-0 (one byte held, in one PUT)', async () => {
  const reg = await startUploadRegistry({ cut: cutFirstPut(1) });
  try {
    const r = await upload(reg);
    expect(r).toMatchObject({ kept: true, resumed: 1 });
    expect(reg.requests.map((q) => `${q.method} ${q.status}`)).toEqual([
      'POST 202',
      'PUT cut',
      'GET 204',
      'DELETE 204',
      'POST 202',
      'PUT 201',
    ]);
  } finally {
    reg.close();
  }
});

it('deletes the upload when asking where it stands fails', async () => {
  const reg = await startUploadRegistry({ cut: cutFirstPut(10_000) });
  const f: typeof fetch = async (u, i) =>
    i?.method === 'GET' && String(u).includes('/uploads/')
      ? new Response(null, { status: 204, headers: { location: 'ftp://x/y', range: '0-9999' } })
      : fetch(u, i);
  try {
    const r = await upload(reg, { fetch: f });
    expect(r).toMatchObject({ code: 'ERR_REGISTRY' });
    expect(String(r)).toMatch(/gave no upload location: "ftp:\/\/x\/y"/);
    expect(reg.requests.map((q) => q.method)).toEqual(['POST', 'PUT', 'DELETE']);
  } finally {
    reg.close();
  }
});

it('goes on where a redirected POST was answered: a relative Location is resolved there', async () => {
  // `front` sends the POST on to `back`, which names the upload by a path of its own.
  const puts: string[] = [];
  const back = createServer(async (req, res) => {
    for await (const _ of req);
    if (req.method === 'POST') return res.writeHead(202, { location: '/up/1' }).end();
    if (req.method === 'PUT') {
      puts.push(req.url ?? '');
      return res.writeHead(201).end();
    }
    res.writeHead(404).end();
  });
  const front = createServer((req, res) => {
    req.resume();
    if (req.method === 'POST') {
      const port = (back.address() as AddressInfo).port;
      return res.writeHead(307, { location: `http://127.0.0.1:${port}/v2/x/blobs/uploads/` }).end();
    }
    res.writeHead(404).end();
  });
  for (const s of [back, front]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  try {
    const host = `127.0.0.1:${(front.address() as AddressInfo).port}`;
    const session = openSession(parseImageReference(`${host}/x`), 'pull,push', {
      plainHttp: true,
      fetch: nodeHttpFetch(),
    });
    const up = await uploadBlob(
      { session, hash: webHashProvider(), has: async () => false },
      source(0),
      digest,
      data.length,
    );
    expect(up).toMatchObject({ kept: true });
    expect(puts).toEqual([`/up/1?digest=${encodeURIComponent(digest)}`]);
  } finally {
    for (const s of [back, front]) {
      s.closeAllConnections();
      s.close();
    }
  }
});
