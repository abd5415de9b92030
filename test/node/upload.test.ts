/**
 * Streaming upload: a diff stream piped straight into `fetch(url, { method: 'PUT', body,
 * duplex: 'half' })` against a real HTTP server on 127.0.0.1 that applies the request body to
 * its store as it arrives. A body cut off mid-way is refused and leaves only verified chunks.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LayerdiffError } from '../../src/errors.js';
import { nodeReadableSource } from '../../src/node/io.js';
import { applyDiff } from '../../src/pipeline/apply.js';
import { createDiff } from '../../src/pipeline/diff.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeHeader, paddingSize } from '../../src/tar/header.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { convertBytes, hash } from '../helpers/layers.js';
import { collect, sha256, streamOf } from '../helpers/streams.js';

const body = pseudoRandom(3_000_000, 21);
const text = new TextEncoder().encode('config line\n'.repeat(5000));
const layer = concat([
  encodeHeader({ path: 'big.bin', size: body.length, mode: 0o644, mtime: { sec: 1, nsec: 0 } }),
  body,
  new Uint8Array(paddingSize(body.length)),
  encodeHeader({ path: 'etc/conf', size: text.length, mode: 0o644, mtime: { sec: 1, nsec: 0 } }),
  text,
  new Uint8Array(paddingSize(text.length)),
  new Uint8Array(1024),
]);

describe('streaming upload into a 127.0.0.1 server', () => {
  const received = new MemoryStore();
  const results: Array<{ status: number; diffId?: string; error?: string }> = [];
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const stream = nodeReadableSource(req);
      try {
        const applied = await applyDiff(stream, received, { hash });
        const tar = await collect(reassemble(streamOf(applied.root), received, { hash }));
        results.push({ status: 201, diffId: sha256(tar) });
        res.writeHead(201).end(applied.diffId);
      } catch (err) {
        results.push({ status: 400, error: (err as LayerdiffError).code ?? String(err) });
        res.writeHead(400).end(String(err));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/layers/x`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('pipes createDiff into fetch PUT; the server rebuilds the exact layer', async () => {
    const { stream, done } = createDiff(streamOf(layer, 65536), {
      bases: [],
      store: new MemoryStore(),
      hash,
    });
    const res = await fetch(url, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
      redirect: 'error',
    } as RequestInit);
    expect(res.status).toBe(201);
    expect(await res.text()).toBe(sha256(layer));
    expect((await done).diffId).toBe(sha256(layer));
    expect(results.at(-1)).toEqual({ status: 201, diffId: sha256(layer) });
  });

  it('a second version sends only what the server lacks', async () => {
    const sender = new MemoryStore();
    const { index: base } = await convertBytes(layer, sender);
    const v2 = layer.slice();
    v2[1_500_000]! ^= 1;
    const { stream, done } = createDiff(streamOf(v2, 65536), {
      bases: [base],
      store: sender,
      hash,
    });
    const res = await fetch(url, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
      redirect: 'error',
    } as RequestInit);
    expect(res.status).toBe(201);
    expect((await done).diffBytes).toBeLessThan(v2.length / 10);
    expect(results.at(-1)).toEqual({ status: 201, diffId: sha256(v2) });
  });

  it('a body cut off mid-way: the server refuses it, its store holds only verified chunks', async () => {
    const { stream } = createDiff(streamOf(layer, 65536), {
      bases: [],
      store: new MemoryStore(),
      hash,
    });
    const whole = await collect(stream);
    const cut = whole.subarray(0, Math.floor(whole.length * 0.6));
    const res = await fetch(url, { method: 'PUT', body: cut } as RequestInit);
    expect(res.status).toBe(400);
    expect(results.at(-1)?.error).toBe('ERR_DIFF_FORMAT');
    for (const d of received.digests()) {
      const bytes = await received.get(d);
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(d);
    }
  });
});
