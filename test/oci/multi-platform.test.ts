/**
 * Multi-platform images: a nested image index (as buildx writes one, with an in-toto
 * attestation manifest) converted to the chunked form and restored byte for byte, or with its
 * index rewritten where a layer's gzip is not reproduced; `oci flatten --platform`; and nested
 * indexes as hostile input.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { collectGarbage } from '../../src/node/gc.js';
import { convertLayout, flattenImage } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { layoutRoots } from '../../src/node/oci-roots.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/oci/media-types.js';
import { requireDist, runCli } from '../cli/run.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { collect, sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import {
  buildLayout,
  buildMultiPlatform,
  type LayerSpec,
  layoutFiles,
  putJson,
  readJsonBlob,
} from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-multi-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
const dir = (name: string) => join(work, `${name}-${++n}`);

const base = layerTar([
  { type: 'dir', path: 'etc' },
  { type: 'file', path: 'etc/os-release', body: 'ID=test\n' },
  { type: 'file', path: 'usr/share/words', body: 'word\n'.repeat(20_000) },
]);
const amd64 = layerTar([{ type: 'file', path: 'bin/tool', body: pseudoRandom(200_000, 1) }]);
const arm64 = layerTar([{ type: 'file', path: 'bin/tool', body: pseudoRandom(200_000, 2) }]);

/** Two platforms sharing a base layer; gzip by Python (reproduced) unless `compress` says. */
function images(compress: LayerSpec['compress'] = { python: 6 }) {
  return [
    {
      platform: { os: 'linux', architecture: 'amd64' },
      layers: [
        { tar: base, compress },
        { tar: amd64, compress: 'none' as const },
      ],
    },
    {
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      layers: [
        { tar: base, compress },
        { tar: arm64, compress: 'none' as const },
      ],
    },
  ];
}

/**
 * The digest of the plain tar `oci flatten` gives for one of the images, from a layout of it
 * alone (tars are compared by digest: comparing their bytes takes vitest a second each).
 */
async function flatOf(i: number): Promise<string> {
  const single = dir('single');
  buildLayout(single, [{ tag: 't', layers: images()[i]!.layers }]);
  const store = await FsStore.open(dir('single-store'));
  return sha256(await collect(await flattenImage(single, { store, ref: 't' })));
}

describe.runIf(toolsAvailable('python3'))('multi-platform images (nested image indexes)', () => {
  it('convert keeps every platform and the attestation; restore gives back every file', async () => {
    const src = dir('src');
    const built = buildMultiPlatform(src, images());
    const store = await FsStore.open(dir('store'));
    const chunked = dir('chunked');
    const conv = await convertLayout(src, { store, out: chunked });
    expect(conv.manifests.map((m) => [m.ref, m.index, m.platform, m.copied ?? false])).toEqual([
      ['latest', built.index.digest, 'linux/amd64', false],
      ['latest', built.index.digest, 'linux/arm64/v8', false],
      ['latest', built.index.digest, 'unknown/unknown', true],
    ]);
    // The shared base layer is converted once.
    expect(conv.manifests[0]!.layers[0]!.newChunks).toBeGreaterThan(0);
    expect(conv.manifests[1]!.layers[0]!.newChunks).toBe(0);
    for (const m of conv.manifests.slice(0, 2)) {
      for (const l of m.layers) expect(l.reproducible, l.reason).toBe(true);
    }

    // The chunked index.json names a chunked nested index, which keeps each entry's platform.
    const top = JSON.parse(readFileSync(join(chunked, 'index.json'), 'utf8'));
    expect(top.manifests).toHaveLength(1);
    expect(top.manifests[0]).toMatchObject({
      mediaType: OCI_INDEX,
      annotations: {
        'org.opencontainers.image.ref.name': 'latest',
        'dev.layerdiff.index.digest': built.index.digest,
      },
    });
    const nested = readJsonBlob(chunked, top.manifests[0].digest) as {
      manifests: Array<Record<string, unknown>>;
      annotations: Record<string, string>;
    };
    expect(nested.annotations).toMatchObject({
      'org.opencontainers.image.created': '2026-11-28T00:00:00Z',
      'dev.layerdiff.index.digest': built.index.digest,
      'dev.layerdiff.index.size': String(built.index.size),
      'dev.layerdiff.index.mediaType': OCI_INDEX,
    });
    expect(nested.manifests.map((m) => [m.mediaType, m.platform])).toEqual([
      [OCI_MANIFEST, { os: 'linux', architecture: 'amd64' }],
      [OCI_MANIFEST, { os: 'linux', architecture: 'arm64', variant: 'v8' }],
      [OCI_MANIFEST, { architecture: 'unknown', os: 'unknown' }],
    ]);
    // The attestation is listed as it was, its blobs copied.
    const original = readJsonBlob(src, built.index.digest) as { manifests: unknown[] };
    expect(nested.manifests[2]).toEqual(original.manifests[2]);
    const files = layoutFiles(chunked);
    for (const [path, digest] of Object.entries(layoutFiles(src))) {
      if (path.startsWith('blobs/') && !files[path]) {
        // Only layer blobs of the two images are left out (their chunks are in the store).
        const layerDigests = built.manifests.flatMap((m) =>
          (readJsonBlob(src, m.digest) as { layers: Array<{ digest: string }> }).layers.map(
            (l) => l.digest,
          ),
        );
        expect(layerDigests).toContain(`sha256:${path.slice('blobs/sha256/'.length)}`);
      } else if (path.startsWith('blobs/')) {
        expect(files[path]).toBe(digest);
      }
    }

    const restored = dir('restored');
    const rest = await restoreLayout(chunked, { store, out: restored });
    expect(rest.indexKept).toBe(true);
    expect(rest.indexes).toEqual([
      { ref: 'latest', originalDigest: built.index.digest, digest: built.index.digest, kept: true },
    ]);
    expect(rest.manifests.map((m) => [m.platform, m.kept, m.copied ?? false])).toEqual([
      ['linux/amd64', true, false],
      ['linux/arm64/v8', true, false],
      ['unknown/unknown', true, true],
    ]);
    expect(layoutFiles(restored)).toEqual(layoutFiles(src));
  });

  it('gc keeps every layer of a chunked layout (nested indexes followed), and nothing else', async () => {
    const src = dir('src');
    buildMultiPlatform(src, images());
    const root = dir('store');
    let store = await FsStore.open(root);
    const chunked = dir('chunked');
    await convertLayout(src, { store, out: chunked });
    // A layer no image refers to, in the same store.
    const other = dir('other');
    buildLayout(other, [
      {
        tag: 't',
        layers: [
          {
            tar: layerTar([{ type: 'file', path: 'x', body: pseudoRandom(300_000, 9) }]),
            compress: 'none',
          },
        ],
      },
    ]);
    await convertLayout(other, { store, out: dir('other-chunked') });
    await store.close();
    const roots = await layoutRoots(chunked);
    // base, amd64's and arm64's own layer: the base, shared, once.
    expect(roots).toHaveLength(3);
    const report = await collectGarbage(root, roots);
    expect(report.missing).toBe(0);
    expect(report.chunksRemoved).toBeGreaterThan(0);
    store = await FsStore.open(root);
    const restored = dir('restored');
    await restoreLayout(chunked, { store, out: restored });
    expect(layoutFiles(restored)).toEqual(layoutFiles(src));
    await store.close();
  });

  it('a layer restored uncompressed: its manifests and the nested index are rewritten', async () => {
    const src = dir('src');
    const built = buildMultiPlatform(src, images(), {
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    });
    const store = await FsStore.open(dir('store'));
    const chunked = dir('chunked');
    await convertLayout(src, { store, out: chunked, reproduceGzip: false });
    const restored = dir('restored');
    const rest = await restoreLayout(chunked, { store, out: restored });
    expect(rest.indexKept).toBe(false);
    expect(rest.indexes).toHaveLength(1);
    const [x] = rest.indexes;
    expect(x).toMatchObject({ originalDigest: built.index.digest, kept: false });
    expect(rest.manifests.map((m) => m.kept)).toEqual([false, false, true]);

    // The new nested index: the original JSON with the changed entries' digests and sizes.
    const original = readJsonBlob(src, built.index.digest) as {
      mediaType: string;
      manifests: Array<Record<string, unknown>>;
    };
    const now = readJsonBlob(restored, x!.digest) as typeof original;
    expect(now.mediaType).toBe(original.mediaType);
    expect(now.manifests).toHaveLength(3);
    for (const [i, m] of rest.manifests.entries()) {
      expect(now.manifests[i]).toEqual({
        ...original.manifests[i],
        digest: m.digest,
        size: readFileSync(join(restored, 'blobs', 'sha256', m.digest.slice(7))).length,
      });
    }
    const top = JSON.parse(readFileSync(join(restored, 'index.json'), 'utf8'));
    expect(top.manifests).toEqual([
      {
        mediaType: original.mediaType,
        digest: x!.digest,
        size: readFileSync(join(restored, 'blobs', 'sha256', x!.digest.slice(7))).length,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ]);
    // Each platform still flattens to what it held.
    for (const [i, platform] of ['linux/amd64', 'linux/arm64/v8'].entries()) {
      const tar = await collect(await flattenImage(restored, { store, ref: 'latest', platform }));
      expect(sha256(tar)).toBe(await flatOf(i));
    }
  });

  it('convert --platform keeps that platform and its attestation; restore lists what was kept', async () => {
    const src = dir('src');
    const built = buildMultiPlatform(src, images());
    const original = readJsonBlob(src, built.index.digest) as {
      manifests: Array<Record<string, unknown>>;
    };
    for (const [platform, keep] of [
      ['linux/amd64', [0, 2]],
      ['linux/arm64', [1]],
    ] as const) {
      const storeDir = dir('store');
      const store = await FsStore.open(storeDir);
      const chunked = dir('chunked');
      const conv = await convertLayout(src, { store, out: chunked, platform });
      expect(conv.manifests.map((m) => m.digest)).toEqual(
        keep.map((i) => original.manifests[i]!.digest),
      );
      const left = [0, 1, 2].filter((i) => !keep.includes(i as never));
      expect(conv.leftOut.map((x) => x.digest)).toEqual(
        left.map((i) => original.manifests[i]!.digest),
      );
      // The other platform's manifest is not in the chunked layout.
      const other = built.manifests[platform === 'linux/amd64' ? 1 : 0]!;
      const top = JSON.parse(readFileSync(join(chunked, 'index.json'), 'utf8'));
      const nested = readJsonBlob(chunked, top.manifests[0].digest) as {
        manifests: unknown[];
        annotations: Record<string, string>;
      };
      expect(nested.manifests).toHaveLength(keep.length);
      expect(nested.annotations['dev.layerdiff.index.platform']).toBe(platform);
      expect(existsSync(join(chunked, 'blobs', 'sha256', other.digest.slice(7)))).toBe(false);

      const restored = dir('restored');
      const rest = await restoreLayout(chunked, { store, out: restored });
      expect(rest.indexKept).toBe(false);
      expect(rest.indexes).toMatchObject([{ kept: false, leftOut: left.length }]);
      const x = rest.indexes[0]!;
      expect(readJsonBlob(restored, x.digest)).toEqual({
        ...original,
        manifests: keep.map((i) => original.manifests[i]),
      });
      // The kept image and its blobs are the originals, byte for byte.
      const files = layoutFiles(restored);
      for (const i of keep) {
        const digest = original.manifests[i]!.digest as string;
        expect(files[`blobs/sha256/${digest.slice(7)}`]).toBe(
          layoutFiles(src)[`blobs/sha256/${digest.slice(7)}`],
        );
      }
      const flat = await collect(await flattenImage(restored, { store, ref: 'latest' }));
      expect(sha256(flat)).toBe(await flatOf(platform === 'linux/amd64' ? 0 : 1));
    }
    // A platform the image lacks: refused, naming what it has.
    const err = await convertLayout(src, {
      store: await FsStore.open(dir('store')),
      out: dir('chunked'),
      platform: 'linux/s390x',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_OCI_PLATFORM',
      platforms: ['linux/amd64', 'linux/arm64/v8', 'unknown/unknown'],
    });
  });

  it('oci flatten picks the platform asked for, from the plain or the chunked layout', async () => {
    const src = dir('src');
    buildMultiPlatform(src, images());
    const storeDir = dir('store');
    const store = await FsStore.open(storeDir);
    const chunked = dir('chunked');
    await convertLayout(src, { store, out: chunked });
    const amd = await flatOf(0);
    const arm = await flatOf(1);
    expect(amd).not.toBe(arm);
    for (const layout of [src, chunked]) {
      const flat = async (platform?: string) =>
        sha256(await collect(await flattenImage(layout, { store, ref: 'latest', platform })));
      expect(await flat('linux/amd64')).toBe(amd);
      expect(await flat('linux/arm64/v8')).toBe(arm);
      // os/arch matches any variant.
      expect(await flat('linux/arm64')).toBe(arm);
      // The attestation is no image to pick: two platforms are left, so one must be named.
      await expect(flat()).rejects.toMatchObject({
        code: 'ERR_OCI_PLATFORM',
        platforms: ['linux/amd64', 'linux/arm64/v8'],
      });
      await expect(flat('linux/s390x')).rejects.toMatchObject({
        code: 'ERR_OCI_PLATFORM',
        platforms: ['linux/amd64', 'linux/arm64/v8', 'unknown/unknown'],
        message: expect.stringMatching(/^no image is for platform .linux\/s390x. \(platforms:/),
      });
    }
    // Two images for one platform: neither is picked.
    const twice = dir('twice');
    buildMultiPlatform(twice, [images()[0]!, images()[0]!]);
    await expect(
      flattenImage(twice, { store, ref: 'latest', platform: 'linux/amd64' }),
    ).rejects.toMatchObject({
      code: 'ERR_OCI_PLATFORM',
      platforms: ['linux/amd64', 'linux/amd64'],
      message: expect.stringMatching(/^2 images are for platform .linux\/amd64./),
    });

    requireDist();
    const out = join(work, `flat-${++n}.tar`);
    const args = ['oci', 'flatten', `${chunked}:latest`, '--store', storeDir];
    const ok = await runCli([...args, '--platform', 'linux/arm64/v8', '--out', out]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(sha256(readFileSync(out))).toBe(arm);
    const bad = await runCli([...args, '--out', `${out}.2`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/ERR_OCI_PLATFORM.*linux\/amd64, linux\/arm64\/v8.*--platform/);
  });
});

describe('hostile nested image indexes', () => {
  /** A layout whose index.json names `top` (tagged `t`), and the conversion's failure. */
  async function expectFailure(src: string, code: string, message?: RegExp): Promise<void> {
    const store = await FsStore.open(dir('store'));
    const out = dir('out');
    const err = await convertLayout(src, { store, out }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code });
    if (message) expect((err as Error).message).toMatch(message);
    expect(() => readFileSync(join(out, 'index.json'))).toThrow();
  }
  const pointAt = (src: string, d: { digest: string; size: number }, mediaType = OCI_INDEX) =>
    writeFileSync(
      join(src, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType, ...d }] }),
    );

  it('indexes nested deeper than 8 are refused', async () => {
    const src = dir('src');
    buildLayout(src, [{ tag: 't', layers: [{ tar: amd64, compress: 'none' }] }]);
    let d = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0];
    for (let i = 0; i < 9; i++) {
      d = { mediaType: OCI_INDEX, ...putJson(src, { schemaVersion: 2, manifests: [d] }) };
    }
    pointAt(src, d);
    await expectFailure(src, 'ERR_OCI_LIMIT', /nested over 8 deep/);
    // Eight deep is read.
    pointAt(src, (readJsonBlob(src, d.digest).manifests as (typeof d)[])[0]!);
    const store = await FsStore.open(dir('store'));
    const report = await convertLayout(src, { store, out: dir('out') });
    expect(report.manifests).toHaveLength(1);
  });

  it('an index whose own media type differs from its descriptor', async () => {
    const src = dir('src');
    buildLayout(src, [{ tag: 't', layers: [{ tar: amd64, compress: 'none' }] }]);
    const m = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0];
    const d = putJson(src, {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
      manifests: [m],
    });
    pointAt(src, d);
    await expectFailure(src, 'ERR_OCI_FORMAT', /index says mediaType/);
  });

  it('an index entry that is neither a manifest nor an index', async () => {
    const src = dir('src');
    buildLayout(src, [{ tag: 't', layers: [{ tar: amd64, compress: 'none' }] }]);
    const m = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0];
    const d = putJson(src, {
      schemaVersion: 2,
      manifests: [{ ...m, mediaType: 'application/vnd.oci.image.config.v1+json' }],
    });
    pointAt(src, d);
    await expectFailure(src, 'ERR_OCI_MEDIA_TYPE');
  });

  it('a manifest with an unknown image layer media type is refused, not copied', async () => {
    const src = dir('src');
    buildLayout(src, [
      {
        tag: 't',
        layers: [
          {
            tar: amd64,
            compress: { blob: amd64, mediaType: 'application/vnd.oci.image.layer.v1.tar+lz4' },
          },
        ],
      },
    ]);
    await expectFailure(src, 'ERR_OCI_MEDIA_TYPE', /unsupported layer media type/);
  });

  it('a blob listed once as a manifest and once as an index is converted as each', async () => {
    // A JSON object that parses as both (no mediaType of its own): each reading is kept
    // apart, and both come back.
    const src = dir('src');
    buildLayout(src, [{ tag: 't', layers: [{ tar: amd64, compress: 'none' }] }]);
    const m = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0];
    const manifest = readJsonBlob(src, m.digest);
    const both: Record<string, unknown> = { ...manifest, manifests: [m] };
    delete both.mediaType;
    const d = putJson(src, both);
    writeFileSync(
      join(src, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          { mediaType: OCI_MANIFEST, ...d },
          { mediaType: OCI_INDEX, ...d },
        ],
      }),
    );
    const store = await FsStore.open(dir('store'));
    const chunked = dir('chunked');
    const conv = await convertLayout(src, { store, out: chunked });
    expect(conv.manifests.map((x) => [x.digest, x.index])).toEqual([
      [d.digest, undefined],
      [m.digest, d.digest],
    ]);
    const top = JSON.parse(readFileSync(join(chunked, 'index.json'), 'utf8'));
    expect(top.manifests.map((x: { mediaType: string }) => x.mediaType)).toEqual([
      OCI_MANIFEST,
      OCI_INDEX,
    ]);
    expect(top.manifests[0].digest).not.toBe(top.manifests[1].digest);
    const restored = dir('restored');
    const rest = await restoreLayout(chunked, { store, out: restored });
    expect(rest.indexKept).toBe(true);
    expect(layoutFiles(restored)).toEqual(layoutFiles(src));
  });

  it('restore refuses a chunked nested index whose entries were reordered', async () => {
    const src = dir('src');
    buildMultiPlatform(src, images('none'));
    const store = await FsStore.open(dir('store'));
    const chunked = dir('chunked');
    await convertLayout(src, { store, out: chunked });
    const top = JSON.parse(readFileSync(join(chunked, 'index.json'), 'utf8'));
    const nested = readJsonBlob(chunked, top.manifests[0].digest) as { manifests: unknown[] };
    nested.manifests.reverse();
    const d = putJson(chunked, nested);
    top.manifests[0] = { ...top.manifests[0], ...d };
    writeFileSync(join(chunked, 'index.json'), JSON.stringify(top));
    const out = dir('restored');
    await expect(restoreLayout(chunked, { store, out })).rejects.toMatchObject({
      code: 'ERR_OCI_FORMAT',
      message: expect.stringMatching(/manifests\[\d\]: differs from the original index/),
    });
    expect(() => readFileSync(join(out, 'index.json'))).toThrow();
  });
});
