/**
 * Layers compressed by Go's `compress/gzip` (as Docker, BuildKit and containerd write them),
 * made at test time by Go itself: conversion finds the Go engine and level that reproduce
 * each one, `oci restore` gives back every file of the layout byte for byte, and the registry
 * serves each layer under its original digest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { GO_FLATE_ENGINE } from '../../src/oci/gzip-reproduce.js';
import { createRegistryHandler } from '../../src/registry/handler.js';
import { openRepository } from '../../src/registry/repository.js';
import { goGzip } from '../go/go.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, layoutFiles } from './helpers.js';

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
