/**
 * Layers compressed by Go's `compress/gzip` (as Docker, BuildKit and containerd write them),
 * made at test time by Go itself: conversion finds the Go engine and level that reproduce
 * each one, `oci restore` gives back every file of the layout byte for byte, and the registry
 * serves each layer under its original digest.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import {
  type DeflateEngine,
  findGzipParams,
  GO_FLATE_ENGINE,
  GZIP_PROBE_BYTES,
  goDeflateEngine,
  probeGzipParams,
  verifyGzipParams,
} from '../../src/oci/gzip-reproduce.js';
import { layerMethod } from '../../src/oci/restore-plan.js';
import { createRegistryHandler } from '../../src/registry/handler.js';
import { openRepository } from '../../src/registry/repository.js';
import { goGzip } from '../go/go.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, gnuGzip, layoutFiles } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-go-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe.runIf(toolsAvailable('go'))("OCI layers compressed by Go's gzip", () => {
  it('convert reproduces them; restore and the registry give back the original blobs', async () => {
    const tar = (seed: number) =>
      layerTar([
        { type: 'dir', path: 'usr/bin' },
        { type: 'file', path: 'usr/bin/tool', body: pseudoRandom(200_000, seed), mode: 0o755 },
        { type: 'file', path: 'usr/share/doc/README', body: `seed ${seed}\n`.repeat(30_000) },
      ]);
    // -1 is Go's DefaultCompression (level 6), what `gzip.NewWriter` uses.
    const levels = [-1, 1, 2, 9];
    const blobs = levels.map((level, i) =>
      goGzip(tar(i + 1), level, i === 3 ? 'layer.tar' : undefined),
    );
    const src = join(work, 'src');
    const [manifest] = buildLayout(src, [
      {
        tag: 'go',
        layers: blobs.map((blob, i) => ({ tar: tar(i + 1), compress: { blob, mediaType: GZIP } })),
      },
    ]);
    const hash = nodeHashProvider();
    const store = await FsStore.open(join(work, 'store'));
    const chunked = join(work, 'chunked');
    const conv = await convertLayout(src, { store, out: chunked, hash });
    const layers = conv.manifests[0]!.layers;
    expect(layers.map((l) => [l.reproducible, l.gzip?.engine, l.gzip?.level])).toEqual([
      [true, GO_FLATE_ENGINE, 6],
      [true, GO_FLATE_ENGINE, 1],
      [true, GO_FLATE_ENGINE, 2],
      [true, GO_FLATE_ENGINE, 9],
    ]);

    const out = join(work, 'restored');
    const rest = await restoreLayout(chunked, { store, out });
    expect(rest.manifests[0]!.kept).toBe(true);
    expect(rest.manifests[0]!.layers.map((l) => l.how)).toEqual(Array(4).fill('recompressed'));
    expect(layoutFiles(out)).toEqual(layoutFiles(src));

    const repo = await openRepository(await OciLayout.open(chunked), { hash });
    const serve = createRegistryHandler({ repositories: new Map([['go/img', repo]]), store, hash });
    const m = await serve(new Request(`http://127.0.0.1/v2/go/img/manifests/${manifest!.digest}`));
    expect(m.status).toBe(200);
    for (const blob of blobs) {
      const r = await serve(new Request(`http://127.0.0.1/v2/go/img/blobs/${sha256(blob)}`));
      expect(r.status).toBe(200);
      expect(sha256(new Uint8Array(await r.arrayBuffer()))).toBe(sha256(blob));
    }
    await store.close();
  });
});

/** gzip by Python's zlib at memLevel 1. */
const zlibMemLevel1 = (bytes: Uint8Array) =>
  new Uint8Array(
    execFileSync(
      'python3',
      [
        '-c',
        'import sys,zlib;c=zlib.compressobj(6,zlib.DEFLATED,31,1);sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read())+c.flush())',
      ],
      { input: bytes, maxBuffer: 1 << 30 },
    ),
  );

/**
 * A gzip blob made to agree with zlib (level 6, memLevel 9) beyond its first MiB and then
 * differ: zlib's output is flushed there, and the rest, 16 MiB of zeros, is written as stored
 * blocks, which that candidate codes as matches that it holds back (32,767 symbols, 8.45 MB
 * of zeros) past the check's lag bound.
 */
const lagging = () =>
  new Uint8Array(
    execFileSync(
      'python3',
      [
        '-c',
        `
import io, random, struct, sys, tarfile, zlib
rand = random.Random(1).randbytes(1_400_000)
size = 1_300_000 + (16 << 20)
def tar(n):
    info = tarfile.TarInfo('a/data'); info.size = size; info.mtime = 1700000000
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w', format=tarfile.USTAR_FORMAT) as t:
        t.addfile(info, io.BytesIO(rand[:n] + bytes(size - n)))
    return out.getvalue()
u = tar(1_350_000)
c = zlib.compressobj(6, zlib.DEFLATED, -15, 9)
out = len(c.compress(u[:1_080_000]))
for i in range(1_080_000, 1_300_000):
    out += len(c.compress(u[i:i + 1]))
    if out > (1 << 20) + 65536:
        break
cut = i + 1 - 262 + 100
u = tar(cut - 512)
c = zlib.compressobj(6, zlib.DEFLATED, -15, 9)
parts = [c.compress(u[:cut]) + c.flush(zlib.Z_SYNC_FLUSH)]
rest = u[cut:]
for at in range(0, len(rest), 65535):
    block = rest[at:at + 65535]
    parts.append(b'\\x00' + struct.pack('<HH', len(block), len(block) ^ 0xffff) + block)
parts.append(b'\\x01\\x00\\x00\\xff\\xff')
head = b'\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\xff'
sys.stdout.buffer.write(head + b''.join(parts) + struct.pack('<II', zlib.crc32(u), len(u)))
`,
      ],
      { maxBuffer: 1 << 30 },
    ),
  );

/** Go's engine under another name, except that its output differs after `after` bytes. */
function goingWrong(after: number): DeflateEngine {
  const go = goDeflateEngine();
  return {
    name: 'go-until-it-is-not',
    memLevels: [8],
    createDeflateRaw(params) {
      const inner = go.createDeflateRaw(params);
      let seen = 0;
      const flip = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          const out = chunk.slice();
          for (let i = 0; i < out.length; i++, seen++) if (seen === after) out[i]! ^= 1;
          controller.enqueue(out);
        },
      });
      return { writable: inner.writable, readable: inner.readable.pipeThrough(flip) };
    },
  };
}

describe.runIf(toolsAvailable('go', 'gzip', 'python3'))('gzip layers read once', () => {
  const tar = layerTar([
    { type: 'file', path: 'a/random', body: pseudoRandom(7_000_000, 7) },
    { type: 'file', path: 'a/text', body: 'layer chunk digest\n'.repeat(100_000) },
  ]);
  const blob = goGzip(tar, -1);
  const stream = (bytes: Uint8Array) => new Blob([new Uint8Array(bytes)]).stream();

  it('the probe finds the candidate from the first MiB; the check over the whole blob agrees', async () => {
    // Past the probe and the 4 MiB the conversion may run ahead of the check.
    expect(blob.length).toBeGreaterThan(GZIP_PROBE_BYTES + (5 << 20));
    const probe = await probeGzipParams(blob.subarray(0, GZIP_PROBE_BYTES), false);
    expect(probe).toMatchObject({ verified: false, params: { engine: GO_FLATE_ENGINE, level: 6 } });
    const { params, engine } = probe as Required<typeof probe>;
    expect(await verifyGzipParams(stream(blob), params, engine)).toBe(true);
    // One byte short, or a byte of the trailer changed: not reproduced.
    expect(await verifyGzipParams(stream(blob.subarray(0, -1)), params, engine)).toBe(false);
    const bad = blob.slice();
    bad[bad.length - 3]! ^= 1;
    expect(await verifyGzipParams(stream(bad), params, engine)).toBe(false);
    // findGzipParams: the first MiB, then one read for the candidate that agrees.
    let opens = 0;
    const found = await findGzipParams(
      () => {
        opens++;
        return stream(blob);
      },
      { hash: nodeHashProvider(), digest: sha256(blob) },
    );
    expect(found.params).toEqual(params);
    expect(opens).toBe(2);
    // A stopped check is not a match.
    const stop = new AbortController();
    stop.abort();
    expect(await verifyGzipParams(stream(blob), params, engine, { signal: stop.signal })).toBe(
      false,
    );
  });

  it('checks a whole blob in the probe to its end; finds no candidate for one nothing makes', async () => {
    const small = goGzip(new TextEncoder().encode('small layer\n'.repeat(1000)), 9);
    expect(await probeGzipParams(small, true)).toMatchObject({
      verified: true,
      params: { engine: GO_FLATE_ENGINE, level: 9 },
    });
    // zlib at memLevel 1, which no candidate uses: it differs within the first block.
    const none = await probeGzipParams(zlibMemLevel1(tar).subarray(0, GZIP_PROBE_BYTES), false);
    expect(none.params).toBeUndefined();
    // pako at levels 1-9 and memLevels 8 and 9, Go at levels 1-9, six klauspost engines at
    // levels 5 and 6.
    expect(none.tried).toBe(39);
  });

  it('oci convert opens a gzip layer once; a candidate that fails past the probe is searched again', async () => {
    const src = join(work, 'once');
    buildLayout(src, [
      {
        tag: 'x',
        layers: [
          { tar, compress: { blob, mediaType: GZIP } },
          { tar, compress: { blob: gnuGzip(tar), mediaType: GZIP } },
        ],
      },
    ]);
    const hash = nodeHashProvider();
    const store = await FsStore.open(join(work, 'once-store'));
    const layout = await OciLayout.open(src);
    const opened: string[] = [];
    const open = layout.openBlob.bind(layout);
    layout.openBlob = (digest) => {
      opened.push(digest);
      return open(digest);
    };
    const conv = await convertLayout(layout, { store, out: join(work, 'once-out'), hash });
    const [go, gnu] = conv.manifests[0]!.layers;
    expect(go).toMatchObject({ reproducible: true, gzip: { engine: GO_FLATE_ENGINE, level: 6 } });
    // Random bytes first: GNU gzip's output agrees with pako's (level 6, memLevel 9) for the
    // first MiB, so that candidate is checked beside the conversion and fails; every other
    // candidate already differs within the first MiB. Each blob is read once.
    expect(gnu).toMatchObject({ reproducible: false, reason: /57 candidates tried/ });
    expect(opened.filter((d) => d === go!.digest)).toHaveLength(1);
    expect(opened.filter((d) => d === gnu!.digest)).toHaveLength(1);

    // An engine that agrees with the first MiB and no further is tried first: the whole
    // search runs again over the whole blob, and finds Go's.
    opened.length = 0;
    const again = await convertLayout(layout, {
      store,
      out: join(work, 'again-out'),
      hash,
      engines: [goingWrong(GZIP_PROBE_BYTES + 1000), goDeflateEngine()],
    });
    expect(again.manifests[0]!.layers[0]).toMatchObject({
      reproducible: true,
      gzip: { engine: GO_FLATE_ENGINE, level: 6 },
    });
    // Once to convert (checking the wrong engine beside it), once to check Go's.
    expect(opened.filter((d) => d === go!.digest)).toHaveLength(2);

    await store.close();
  });

  it('a check whose candidate lags past its bound fails, and the conversion goes on', async () => {
    const hash = nodeHashProvider();
    const store = await FsStore.open(join(work, 'lagging-store'));
    // The conversion is 4 MiB ahead of the check when the check gives up (a false negative);
    // it must not wait for ever for a check that no longer reads.
    const blob2 = lagging();
    const tar2 = new Uint8Array(gunzipSync(blob2));
    const src2 = join(work, 'lagging');
    buildLayout(src2, [
      { tag: 'x', layers: [{ tar: tar2, compress: { blob: blob2, mediaType: GZIP } }] },
    ]);
    const lag = await convertLayout(src2, { store, out: join(work, 'lagging-out'), hash });
    expect(lag.manifests[0]!.layers[0]).toMatchObject({
      reproducible: false,
      reason: /57 candidates tried/,
    });
    await store.close();
  });
});

describe('a recorded Go engine', () => {
  it('with a strategy Go has not: the layer comes back uncompressed, with the reason', () => {
    const record = {
      mediaType: GZIP,
      digest: `sha256:${'1'.repeat(64)}`,
      size: 10,
      diffId: `sha256:${'2'.repeat(64)}`,
      compression: 'gzip' as const,
      gzip: { engine: GO_FLATE_ENGINE, level: 6, memLevel: 8, strategy: 1, header: '1f8b' },
    };
    expect(layerMethod(record, [goDeflateEngine()])).toEqual({
      how: 'uncompressed',
      reason: `deflate engine ${GO_FLATE_ENGINE} has no strategy 1`,
    });
    expect(
      layerMethod({ ...record, gzip: { ...record.gzip, strategy: 0 } }, [goDeflateEngine()]),
    ).toMatchObject({ how: 'recompressed' });
  });
});
