import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkDigestError, ChunkNotFoundError, OciDigestError } from '../../src/errors.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { PackStore } from '../../src/node/pack-store.js';
import { ANNOTATIONS } from '../../src/oci/chunked.js';
import type { DeflateEngine } from '../../src/oci/gzip-reproduce.js';
import { pakoDeflateEngine } from '../../src/oci/gzip-reproduce.js';
import { createRegistryHandler } from '../../src/registry/handler.js';
import { parseRange } from '../../src/registry/range.js';
import { openRepository, type RegistryRepository } from '../../src/registry/repository.js';
import type { ChunkReader } from '../../src/store/types.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { buildLayout, gnuGzip } from '../oci/helpers.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildImages } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-registry-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const hash = nodeHashProvider();
const BASE = 'http://registry.test';

const tar = (seed: number, size = 200_000) =>
  layerTar([
    { type: 'dir', path: 'opt' },
    { type: 'file', path: `opt/tool-${seed}`, body: pseudoRandom(size, seed), mode: 0o755 },
    { type: 'file', path: 'etc/motd', body: new TextEncoder().encode(`image ${seed}\n`) },
  ]);
let src: string;
let store: PackStore;
let repo: RegistryRepository;
let serve: (request: Request) => Promise<Response>;
const streamErrors: unknown[] = [];
const blobFile = (layout: string, digest: string) =>
  readFileSync(join(layout, 'blobs/sha256', digest.slice(7)));
const get = (path: string, init?: RequestInit) => serve(new Request(`${BASE}${path}`, init));
const bodyOf = async (r: Response) => new Uint8Array(await r.arrayBuffer());

beforeAll(async () => {
  src = join(work, 'src');
  buildLayout(src, [
    {
      tag: 'exact',
      layers: [
        { tar: tar(1), compress: 'none' },
        { tar: tar(2), compress: { python: 6 } },
      ],
    },
    {
      tag: 'changed',
      layers: [
        { tar: tar(1), compress: 'none' },
        {
          tar: tar(3),
          compress: {
            blob: gnuGzip(tar(3)),
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          },
        },
      ],
    },
  ]);
  store = await PackStore.open(join(work, 'store'));
  await convertLayout(src, { store, out: join(work, 'chunked'), hash });
  repo = await openRepository(await OciLayout.open(join(work, 'chunked')), { hash });
  serve = createRegistryHandler({
    repositories: new Map([['test/img', repo]]),
    store,
    hash,
    onStreamError: (err) => streamErrors.push(err),
  });
});
afterAll(() => store.close());

describe('registry handler', () => {
  it('answers the base endpoint, the catalog and tag lists (paged)', async () => {
    const base = await get('/v2/');
    expect(base.status).toBe(200);
    expect(base.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await (await get('/v2/_catalog')).json()).toEqual({ repositories: ['test/img'] });
    expect(await (await get('/v2/test/img/tags/list')).json()).toEqual({
      name: 'test/img',
      tags: ['changed', 'exact'],
    });
    const first = await get('/v2/test/img/tags/list?n=1');
    expect(await first.json()).toEqual({ name: 'test/img', tags: ['changed'] });
    expect(first.headers.get('link')).toBe('</v2/test/img/tags/list?n=1&last=changed>; rel="next"');
    const second = await get('/v2/test/img/tags/list?n=1&last=changed');
    expect(await second.json()).toEqual({ name: 'test/img', tags: ['exact'] });
    expect(second.headers.get('link')).toBeNull();
  });

  it('serves an image whose layers are all reproduced byte for byte, by tag and by digest', async () => {
    const index = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8'));
    const orig = index.manifests.find(
      (m: { annotations: Record<string, string> }) =>
        m.annotations['org.opencontainers.image.ref.name'] === 'exact',
    );
    const byTag = await get('/v2/test/img/manifests/exact');
    expect(byTag.status).toBe(200);
    expect(byTag.headers.get('docker-content-digest')).toBe(orig.digest);
    expect(byTag.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
    const bytes = await bodyOf(byTag);
    expect(bytes).toEqual(new Uint8Array(blobFile(src, orig.digest)));
    const byDigest = await get(`/v2/test/img/manifests/${encodeURIComponent(orig.digest)}`);
    expect(await bodyOf(byDigest)).toEqual(bytes);

    const manifest = JSON.parse(new TextDecoder().decode(bytes));
    for (const d of [manifest.config, ...manifest.layers]) {
      const r = await get(`/v2/test/img/blobs/${d.digest}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-length')).toBe(String(d.size));
      const body = await bodyOf(r);
      expect(sha256(body)).toBe(d.digest);
    }
  });

  it('serves an image with a layer it cannot recompress as restoreLayout restores it', async () => {
    const restored = join(work, 'restored');
    const report = await restoreLayout(join(work, 'chunked'), { store, out: restored, hash });
    const expected = report.manifests.find((m) => m.ref === 'changed')!;
    expect(expected.kept).toBe(false);
    const r = await get('/v2/test/img/manifests/changed');
    expect(r.headers.get('docker-content-digest')).toBe(expected.digest);
    const bytes = await bodyOf(r);
    expect(bytes).toEqual(new Uint8Array(blobFile(restored, expected.digest)));
    const manifest = JSON.parse(new TextDecoder().decode(bytes));
    expect(manifest.layers[1].mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(manifest.layers[1].digest).toBe(sha256(tar(3)));
    expect(sha256(await bodyOf(await get(`/v2/test/img/blobs/${manifest.layers[1].digest}`)))).toBe(
      sha256(tar(3)),
    );
    // The original gzip blob is not served: nothing here can make it.
    const gz = expected.layers[1]!.originalDigest;
    expect((await get(`/v2/test/img/blobs/${gz}`)).status).toBe(404);
  });

  it('answers HEAD and byte ranges of held blobs and of layers rebuilt on the fly', async () => {
    const manifest = JSON.parse(
      new TextDecoder().decode(await bodyOf(await get('/v2/test/img/manifests/exact'))),
    );
    const gz = manifest.layers[1];
    const head = await get(`/v2/test/img/blobs/${gz.digest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(gz.size));
    expect(head.headers.get('docker-content-digest')).toBe(gz.digest);
    expect(await bodyOf(head)).toHaveLength(0);
    // The config is held whole; the gzip layer is rebuilt and recompressed for each request.
    for (const d of [manifest.config, gz, manifest.layers[0]]) {
      const all = new Uint8Array(blobFile(src, d.digest));
      const n = all.length;
      for (const [range, start, end] of [
        ['bytes=100-199', 100, 199],
        ['bytes=0-0', 0, 0],
        [`bytes=${n - 10}-`, n - 10, n - 1],
        ['bytes=-25', n - 25, n - 1],
        [`bytes=5-${n + 1000}`, 5, n - 1],
        [`bytes=-${n + 1000}`, 0, n - 1],
      ] as const) {
        const r = await get(`/v2/test/img/blobs/${d.digest}`, { headers: { range } });
        expect(r.status, range).toBe(206);
        expect(r.headers.get('content-range')).toBe(`bytes ${start}-${end}/${n}`);
        expect(r.headers.get('content-length')).toBe(String(end - start + 1));
        expect(sha256(await bodyOf(r))).toBe(sha256(all.subarray(start, end + 1)));
      }
      const beyond = await get(`/v2/test/img/blobs/${d.digest}`, {
        headers: { range: `bytes=${n}-` },
      });
      expect(beyond.status).toBe(416);
      expect(beyond.headers.get('content-range')).toBe(`bytes */${n}`);
      // Several ranges, another unit, a reversed range: the whole blob (RFC 9110 lets a
      // server ignore a Range header).
      for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=9-3', 'bytes=x-']) {
        const whole = await get(`/v2/test/img/blobs/${d.digest}`, { headers: { range } });
        expect(whole.status, range).toBe(200);
        expect(sha256(await bodyOf(whole))).toBe(sha256(all));
      }
    }
  });

  it('takes no range of an empty blob as satisfiable, a suffix included', () => {
    // A suffix once gave `bytes 0--1/0` with a 206.
    for (const range of ['bytes=-1', 'bytes=-100', 'bytes=0-', 'bytes=0-0']) {
      expect(parseRange(range, 0), range).toBe('unsatisfiable');
    }
    expect(parseRange('bytes=-1', 1)).toEqual({ start: 0, end: 0 });
  });

  it('answers what it does not serve with the spec error codes', async () => {
    const code = async (r: Response) => [r.status, (await r.json()).errors[0].code];
    const missing = `sha256:${'0'.repeat(64)}`;
    expect(await code(await get('/v2/other/manifests/exact'))).toEqual([404, 'NAME_UNKNOWN']);
    expect(await code(await get('/v2/Bad_Name/manifests/exact'))).toEqual([400, 'NAME_INVALID']);
    expect(await code(await get('/v2/test/img/manifests/nope'))).toEqual([404, 'MANIFEST_UNKNOWN']);
    expect(await code(await get(`/v2/test/img/manifests/${missing}`))).toEqual([
      404,
      'MANIFEST_UNKNOWN',
    ]);
    expect(await code(await get('/v2/test/img/manifests/-bad'))).toEqual([400, 'TAG_INVALID']);
    expect(await code(await get(`/v2/test/img/blobs/${missing}`))).toEqual([404, 'BLOB_UNKNOWN']);
    expect(await code(await get('/v2/test/img/blobs/sha256:XYZ'))).toEqual([400, 'DIGEST_INVALID']);
    expect(await code(await get('/v2/test/img/blobs/%E0%A4%A'))).toEqual([400, 'DIGEST_INVALID']);
    expect(await code(await get('/v2/test/img/blobs/uploads/', { method: 'POST' }))).toEqual([
      405,
      'UNSUPPORTED',
    ]);
    expect(
      await code(await get('/v2/test/img/manifests/exact', { method: 'PUT', body: '{}' })),
    ).toEqual([405, 'UNSUPPORTED']);
    expect(await code(await get('/v3/x'))).toEqual([404, 'NOT_FOUND']);
    expect(await code(await get('/v2/test/img/tags/list?n=-1'))).toEqual([
      400,
      'PAGINATION_NUMBER_INVALID',
    ]);
    expect(await code(await get(`/v2/${'a/'.repeat(3000)}x/manifests/t`))).toEqual([
      414,
      'NAME_INVALID',
    ]);
  });

  it('breaks a layer body off, never ending it, when a chunk is missing or damaged', async () => {
    const manifest = JSON.parse(
      new TextDecoder().decode(await bodyOf(await get('/v2/test/img/manifests/exact'))),
    );
    const layer = manifest.layers[0];
    for (const [fault, error] of [
      ['missing', ChunkNotFoundError],
      ['damaged', ChunkDigestError],
    ] as const) {
      let asked = 0;
      const faulty: ChunkReader = {
        async get(digest) {
          const bytes = await store.get(digest);
          // The index chunks come first; the fault hits a data chunk after them.
          if (++asked !== 3) return bytes;
          if (fault === 'missing') throw new ChunkNotFoundError(digest);
          const bad = bytes.slice();
          bad[0]! ^= 1;
          return bad;
        },
      };
      const errors: unknown[] = [];
      const handler = createRegistryHandler({
        repositories: new Map([['test/img', repo]]),
        store: faulty,
        hash,
        onStreamError: (err) => errors.push(err),
      });
      const r = await handler(new Request(`${BASE}/v2/test/img/blobs/${layer.digest}`));
      expect(r.status).toBe(200);
      await expect(r.arrayBuffer()).rejects.toBeInstanceOf(error);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(error);
    }
  });

  it('makes at most maxPulls bodies at once; the next waits until one ends, fails or is cancelled', async () => {
    const manifest = JSON.parse(
      new TextDecoder().decode(await bodyOf(await get('/v2/test/img/manifests/exact'))),
    );
    const layer = `${BASE}/v2/test/img/blobs/${manifest.layers[0].digest}`;
    const one = createRegistryHandler({
      repositories: new Map([['test/img', repo]]),
      store,
      hash,
      maxPulls: 1,
    });
    const settled = async (p: Promise<Response>) =>
      Promise.race([p.then(() => true), new Promise((r) => setTimeout(() => r(false), 100))]);
    // Ended: read to the end.
    const first = await one(new Request(layer));
    const second = one(new Request(layer));
    expect(await settled(second)).toBe(false);
    // Held blobs and manifests never wait.
    expect(
      (await one(new Request(`${BASE}/v2/test/img/blobs/${manifest.config.digest}`))).status,
    ).toBe(200);
    await first.arrayBuffer();
    const s = await second;
    // Cancelled.
    const third = one(new Request(layer));
    expect(await settled(third)).toBe(false);
    await s.body!.cancel();
    const t = await third;
    // Failed: a body that breaks off frees its slot too.
    const lossy = createRegistryHandler({
      repositories: new Map([['test/img', repo]]),
      store: {
        get: async (d) => {
          throw new ChunkNotFoundError(d);
        },
      },
      hash,
      maxPulls: 1,
    });
    const bad = await lossy(new Request(layer));
    const next = lossy(new Request(layer));
    await expect(bad.arrayBuffer()).rejects.toBeInstanceOf(ChunkNotFoundError);
    expect(await settled(next)).toBe(true);
    await (await next).body!.cancel();
    await t.body!.cancel();
  });

  it('breaks a recompressed blob off when its bytes are not its digest', async () => {
    const real = pakoDeflateEngine();
    // An engine under pako's name that compresses at another level: other bytes.
    const liar: DeflateEngine = {
      name: real.name,
      createDeflateRaw: (p) => real.createDeflateRaw({ ...p, level: p.level === 1 ? 9 : 1 }),
    };
    const lying = await openRepository(await OciLayout.open(join(work, 'chunked')), {
      hash,
      engines: [liar],
    });
    const handler = createRegistryHandler({ repositories: new Map([['x', lying]]), store, hash });
    const manifest = JSON.parse(
      new TextDecoder().decode(await bodyOf(await get('/v2/test/img/manifests/exact'))),
    );
    const r = await handler(new Request(`${BASE}/v2/x/blobs/${manifest.layers[1].digest}`));
    await expect(r.arrayBuffer()).rejects.toBeInstanceOf(OciDigestError);
  });

  it('refuses a chunked layout that claims another size for a layer served as it is', async () => {
    // The original manifest and the chunked one edited consistently, so that only the claim
    // that the uncompressed layer is 1 byte longer than its tar is wrong.
    const bad = join(work, 'bad-chunked');
    cpSync(join(work, 'chunked'), bad, { recursive: true });
    const put = (value: unknown) => {
      const bytes = Buffer.from(JSON.stringify(value));
      const digest = sha256(bytes);
      writeFileSync(join(bad, 'blobs/sha256', digest.slice(7)), bytes);
      return { digest, size: bytes.length };
    };
    const index = JSON.parse(readFileSync(join(bad, 'index.json'), 'utf8'));
    const entry = index.manifests.find(
      (m: { annotations: Record<string, string> }) =>
        m.annotations['org.opencontainers.image.ref.name'] === 'exact',
    );
    const chunkedManifest = JSON.parse(blobFile(bad, entry.digest).toString());
    const origDigest = chunkedManifest.annotations[ANNOTATIONS.manifestDigest];
    const orig = JSON.parse(blobFile(bad, origDigest).toString());
    orig.layers[0].size += 1;
    const o = put(orig);
    chunkedManifest.annotations[ANNOTATIONS.manifestDigest] = o.digest;
    chunkedManifest.annotations[ANNOTATIONS.manifestSize] = String(o.size);
    const layer = chunkedManifest.layers[0].annotations;
    layer[ANNOTATIONS.layerSize] = String(Number(layer[ANNOTATIONS.layerSize]) + 1);
    const c = put(chunkedManifest);
    Object.assign(entry, c);
    entry.annotations[ANNOTATIONS.manifestDigest] = o.digest;
    writeFileSync(join(bad, 'index.json'), JSON.stringify(index));
    await expect(openRepository(await OciLayout.open(bad), { hash })).rejects.toMatchObject({
      code: 'ERR_OCI_FORMAT',
      message: expect.stringContaining('not its tar'),
    });
  });

  it('serves a multi-platform image: the nested index, every manifest and blob', async () => {
    const { multi } = buildImages(join(work, 'images'));
    const built = JSON.parse(readFileSync(join(multi, 'index.json'), 'utf8')).manifests[0];
    await convertLayout(multi, { store, out: join(work, 'multi-chunked'), hash });
    const m = await openRepository(await OciLayout.open(join(work, 'multi-chunked')), { hash });
    const handler = createRegistryHandler({ repositories: new Map([['multi', m]]), store, hash });
    const at = (p: string) => handler(new Request(`${BASE}/v2/multi/${p}`));
    const top = await at('manifests/v1');
    expect(top.headers.get('docker-content-digest')).toBe(built.digest);
    expect(top.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    const listed = JSON.parse(new TextDecoder().decode(await bodyOf(top))).manifests;
    expect(listed).toHaveLength(3);
    for (const d of listed) {
      const r = await at(`manifests/${d.digest}`);
      const bytes = await bodyOf(r);
      expect(sha256(bytes)).toBe(d.digest);
      const man = JSON.parse(new TextDecoder().decode(bytes));
      for (const b of [man.config, ...man.layers]) {
        expect(sha256(await bodyOf(await at(`blobs/${b.digest}`)))).toBe(b.digest);
      }
    }
  });
});
