/**
 * Multi-platform layouts and a real tool: skopeo writes the layout converted (copying a
 * hand-built multi-platform image with every platform and its attestation), and reads the
 * chunked form and the restored layout back, checking every digest as it copies them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildMultiPlatform, layoutFiles } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-skopeo-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `skopeo copy --all --preserve-digests` from one layout's tag to another's. */
const copy = (from: string, to: string) =>
  execFileSync(
    'skopeo',
    ['copy', '--all', '--preserve-digests', `oci:${from}:v1`, `oci:${to}:v1`],
    { stdio: 'pipe' },
  ).toString();
/** What skopeo says the image index of a layout's tag is, byte for byte. */
const rawIndex = (layout: string) =>
  execFileSync('skopeo', ['inspect', '--raw', `oci:${layout}:v1`], { stdio: 'pipe' });

describe.runIf(toolsAvailable('skopeo', 'python3'))('multi-platform layouts and skopeo', () => {
  it('a layout skopeo wrote converts, restores exactly, and skopeo reads both forms', async () => {
    const tar = (seed: number) =>
      layerTar([
        { type: 'dir', path: 'opt' },
        { type: 'file', path: 'opt/tool', body: pseudoRandom(100_000, seed), mode: 0o755 },
      ]);
    const hand = join(work, 'hand');
    buildMultiPlatform(
      hand,
      [
        {
          platform: { os: 'linux', architecture: 'amd64' },
          layers: [{ tar: tar(1), compress: { python: 6 } }],
        },
        {
          platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
          layers: [{ tar: tar(2), compress: 'none' }],
        },
      ],
      { tag: 'v1' },
    );
    const src = join(work, 'src');
    expect(copy(hand, src)).toMatch(/Copying 3 of 3 images in list/);
    const index = rawIndex(src);
    expect(JSON.parse(index.toString()).manifests).toHaveLength(3);

    const store = await FsStore.open(join(work, 'store'));
    const chunked = join(work, 'chunked');
    const conv = await convertLayout(src, { store, out: chunked });
    expect(conv.manifests.map((m) => [m.platform, m.copied ?? false])).toEqual([
      ['linux/amd64', false],
      ['linux/arm/v7', false],
      ['unknown/unknown', true],
    ]);
    // skopeo reads the chunked form as a multi-platform image and verifies every blob.
    expect(copy(chunked, join(work, 'chunked-copy'))).toMatch(/Copying 3 of 3 images in list/);

    const restored = join(work, 'restored');
    const rest = await restoreLayout(chunked, { store, out: restored });
    expect(rest.indexKept).toBe(true);
    expect(layoutFiles(restored)).toEqual(layoutFiles(src));
    expect(rawIndex(restored)).toEqual(index);
    expect(copy(restored, join(work, 'restored-copy'))).toMatch(/Copying 3 of 3 images in list/);
  });
});
