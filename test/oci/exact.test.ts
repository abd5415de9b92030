/**
 * An image layout the test builds itself, with uncompressed layers and gzip layers made by
 * Python's gzip module (the system zlib, reproducible): converting it to the chunked form and
 * restoring it gives back every file of the layout byte for byte.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { LAYERDIFF_ROOT, uncompressedLayerMediaType } from '../../src/oci/media-types.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, layoutFiles, readJsonBlob } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-exact-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const text = (s: string) => new TextEncoder().encode(s);

describe.runIf(toolsAvailable('python3'))('OCI layout round trip, reproducible compression', () => {
  it('restores index.json, manifests, configs and every blob byte for byte', async () => {
    const base = layerTar([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'etc/os-release', body: 'ID=test\n' },
      { type: 'file', path: 'bin/big', body: pseudoRandom(300_000, 1), mode: 0o755 },
      { type: 'file', path: 'usr/share/words', body: 'word\n'.repeat(20_000) },
    ]);
    const app = layerTar([
      { type: 'whiteout', path: 'usr/share/words' },
      { type: 'file', path: 'app/main.js', body: 'console.log(1);\n'.repeat(3000) },
    ]);
    const conf = layerTar([{ type: 'file', path: 'etc/app.conf', body: text('x=1\n') }]);
    const src = join(work, 'src');
    buildLayout(src, [
      {
        tag: 'a',
        layers: [
          { tar: base, compress: { python: 9, name: 'base.tar' } },
          { tar: app, compress: { python: 6 } },
          { tar: conf, compress: 'none' },
        ],
      },
      {
        tag: 'b',
        layers: [
          { tar: base, compress: { python: 9, name: 'base.tar' } },
          { tar: conf, compress: { python: 1 } },
        ],
      },
    ]);
    const store = await FsStore.open(join(work, 'store'));
    const chunked = join(work, 'chunked');
    const conv = await convertLayout(src, { store, out: chunked });
    expect(conv.manifests.map((m) => m.ref)).toEqual(['a', 'b']);
    for (const m of conv.manifests) {
      for (const l of m.layers) expect(l.reproducible, l.reason).toBe(true);
    }
    expect(conv.manifests[0]!.layers[0]!.gzip).toMatchObject({ level: 9, engine: 'pako-2.1.0' });
    expect(conv.manifests[1]!.layers[1]!.gzip).toMatchObject({ level: 1 });
    // The chunked layout's layers are index roots, the configs are the originals.
    const chunkedIndex = JSON.parse(readFileSync(join(chunked, 'index.json'), 'utf8'));
    const cm = readJsonBlob(chunked, chunkedIndex.manifests[0].digest) as {
      layers: Array<{ mediaType: string }>;
      config: { digest: string };
    };
    expect(cm.layers.map((l) => l.mediaType)).toEqual(Array(3).fill(LAYERDIFF_ROOT));
    expect(layoutFiles(chunked)[`blobs/sha256/${cm.config.digest.slice(7)}`]).toBe(
      cm.config.digest,
    );

    const out = join(work, 'restored');
    const rest = await restoreLayout(chunked, { store, out });
    expect(rest.indexKept).toBe(true);
    for (const m of rest.manifests) {
      expect(m.kept).toBe(true);
      for (const l of m.layers) expect(l).toMatchObject({ kept: true, digest: l.originalDigest });
    }
    expect(layoutFiles(out)).toEqual(layoutFiles(src));

    // One tag alone: its manifest comes back exactly; index.json is rewritten to list only it.
    const one = join(work, 'restored-b');
    const r = await restoreLayout(chunked, { store, out: one, ref: 'b' });
    expect(r.manifests).toHaveLength(1);
    expect(r.manifests[0]!.kept).toBe(true);
    expect(r.indexKept).toBe(false);
    const idx = JSON.parse(readFileSync(join(one, 'index.json'), 'utf8'));
    expect(idx.manifests).toEqual([
      JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[1],
    ]);
  });
});

describe('uncompressedLayerMediaType', () => {
  it('keeps the family, and an OCI nondistributable layer nondistributable', () => {
    const oci = 'application/vnd.oci.image.layer';
    expect(uncompressedLayerMediaType(`${oci}.v1.tar+gzip`)).toBe(`${oci}.v1.tar`);
    expect(uncompressedLayerMediaType(`${oci}.nondistributable.v1.tar+zstd`)).toBe(
      `${oci}.nondistributable.v1.tar`,
    );
    expect(uncompressedLayerMediaType('application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(
      'application/vnd.docker.image.rootfs.diff.tar',
    );
  });
});
