/**
 * Gzip layers of several shapes, made by GNU gzip at every level: `oci convert` of each ends
 * (a candidate that differed in its last bytes once left the search waiting forever, with
 * nothing left to run), and `oci restore` gives each back: byte for byte where its compression
 * was reproduced, as its tar (its diff_id) otherwise.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import { concat, pseudoRandom, text } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, gnuGzip, type LayerSpec } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-gzip-sweep-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe.runIf(toolsAvailable('gzip'))('GNU gzip layers at every level', () => {
  it('convert ends for each, and restore gives each back', async () => {
    const layers: LayerSpec[] = [];
    for (let level = 1; level <= 9; level++) {
      for (const body of [
        text(120_000, level),
        concat([text(20_000, level), pseudoRandom(20_000, level)]),
      ]) {
        const tar = layerTar([{ type: 'file', path: `f${layers.length}`, body }]);
        layers.push({ tar, compress: { blob: gnuGzip(tar, level), mediaType: GZIP } });
      }
    }
    const src = join(work, 'src');
    buildLayout(src, [{ tag: 't', layers }]);
    const store = await FsStore.open(join(work, 'store'));
    const chunked = join(work, 'chunked');
    await convertLayout(src, { store, out: chunked });
    const out = join(work, 'back');
    const report = await restoreLayout(chunked, { store, out, concurrency: 2 });
    const restored = report.manifests[0]!.layers;
    expect(restored).toHaveLength(layers.length);
    // Both ways back are taken: GNU gzip's output is zlib's for some shapes and levels.
    expect(new Set(restored.map((l) => l.how))).toEqual(new Set(['recompressed', 'uncompressed']));
    for (const [i, l] of restored.entries()) {
      const spec = layers[i]!.compress as { blob: Uint8Array };
      const want = l.how === 'recompressed' ? spec.blob : layers[i]!.tar;
      expect(l.how, `layer ${i}`).not.toBe('as-is');
      const got = readFileSync(join(out, 'blobs', 'sha256', l.digest.slice(7)));
      expect(got.equals(want), `layer ${i} (${l.how})`).toBe(true);
    }
  }, 60_000);
});
