/**
 * `oci restore` with layers at once: the layout comes back byte for byte whatever the number
 * (gzip recompressed on worker threads), and a layer that fails stops the others at once
 * (the long recompression of the other layer is not waited for) and leaves nothing at --out.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkNotFoundError } from '../../src/errors.js';
import { FsStore } from '../../src/node/fs-store.js';
import { convertLayout } from '../../src/node/oci-convert.js';
import { restoreLayout } from '../../src/node/oci-restore.js';
import type { ChunkReader } from '../../src/store/types.js';
import { requireDist, runCli } from '../cli/run.js';
import { text } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout, gnuGzip, type LayerSpec, layoutFiles } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-restore-at-once-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Digests of the chunks a loose store holds (`sha256/<2 hex>/<64 hex>[suffix]`). */
const chunksOf = (store: string) =>
  new Set(
    readdirSync(join(store, 'sha256'), { recursive: true, encoding: 'utf8' })
      .map((f) => /([0-9a-f]{64})[^/]*$/.exec(f)?.[1])
      .filter((hex) => hex !== undefined)
      .map((hex) => `sha256:${hex}`),
  );

/** Converts a layout of one image of `layers` into a loose store of its own; its chunks. */
async function chunksOfImage(name: string, layers: LayerSpec[]): Promise<Set<string>> {
  const layout = join(work, name);
  buildLayout(layout, [{ tag: 't', layers }]);
  const dir = join(work, `store-${name}`);
  const store = await FsStore.open(dir);
  await convertLayout(layout, { store, out: join(work, `chunked-${name}`), reproduceGzip: false });
  return chunksOf(dir);
}

describe.runIf(toolsAvailable('python3'))('oci restore, layers at once', () => {
  // A: seconds of recompression; B: small.
  const big: LayerSpec = {
    tar: layerTar([{ type: 'file', path: 'big', body: text(12_000_000, 1) }]),
    compress: { python: 6 },
  };
  const small: LayerSpec = {
    tar: layerTar([{ type: 'file', path: 'small', body: text(300_000, 2) }]),
    compress: { python: 6 },
  };
  const src = join(work, 'src');
  const chunked = join(work, 'chunked');
  const storeDir = join(work, 'store');
  let store: FsStore;

  beforeAll(async () => {
    buildLayout(src, [{ tag: 't', layers: [big, small] }]);
    store = await FsStore.open(storeDir);
    const r = await convertLayout(src, { store, out: chunked, concurrency: 2 });
    expect(r.manifests[0]!.layers.map((l) => l.reproducible)).toEqual([true, true]);
  }, 60_000);

  it('gives the layout back byte for byte, one layer at a time or several', async () => {
    for (const concurrency of [1, 2, 3]) {
      const out = join(work, `back-${concurrency}`);
      const report = await restoreLayout(chunked, { store, out, concurrency });
      expect(report.manifests[0]!.layers.map((l) => l.how)).toEqual([
        'recompressed',
        'recompressed',
      ]);
      expect(layoutFiles(out)).toEqual(layoutFiles(src));
    }
  }, 60_000);

  it('a layer that fails stops the other at once, and nothing is left at --out', async () => {
    // The small layer's own chunks go missing; the big one's are all there.
    const missing = await chunksOfImage('small', [small]);
    for (const d of await chunksOfImage('big', [big])) missing.delete(d);
    expect(missing.size).toBeGreaterThan(0);
    const lacking: ChunkReader = {
      get: async (digest) => {
        if (missing.has(digest)) {
          // Late enough that the big layer's recompression is under way.
          await new Promise((r) => setTimeout(r, 100));
          throw new ChunkNotFoundError(digest);
        }
        return store.get(digest);
      },
    };
    const out = join(work, 'failed');
    const started = performance.now();
    await expect(
      restoreLayout(chunked, { store: lacking, out, concurrency: 2 }),
    ).rejects.toBeInstanceOf(ChunkNotFoundError);
    const failedAfter = performance.now() - started;
    expect(existsSync(out)).toBe(false);
    // The whole big layer takes longer than this to recompress (measured beside it).
    const whole = performance.now();
    await restoreLayout(chunked, { store, out: join(work, 'timed'), concurrency: 1 });
    const wholeTook = performance.now() - whole;
    expect(failedAfter).toBeLessThan(wholeTook / 2);
  }, 60_000);

  it('the command line: --jobs, and --jobs 0 refused', async () => {
    requireDist();
    const restore = (out: string, jobs: string) =>
      runCli(['oci', 'restore', chunked, '--store', storeDir, '--out', out, '--jobs', jobs]);
    const out = join(work, 'cli');
    const r = await restore(out, '2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(layoutFiles(out)).toEqual(layoutFiles(src));
    const bad = await restore(join(work, 'x'), '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--jobs must be a positive integer/);
  });
});

describe.runIf(toolsAvailable('gzip'))(
  'oci restore of two layers that fall back to one blob',
  () => {
    it('rebuilds and writes the blob once, one layer at a time or both at once', async () => {
      // Two gzip blobs of one tar (the second's header names another mtime), which nothing
      // reproduces: both layers come back uncompressed, as the same blob, their diff_id.
      const tar = layerTar([{ type: 'file', path: 'twin', body: text(300_000, 3) }]);
      const gz = gnuGzip(tar);
      const other = gz.slice();
      other[4] = 1;
      const mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
      const src = join(work, 'twins-src');
      buildLayout(src, [
        {
          tag: 't',
          layers: [
            { tar, compress: { blob: gz, mediaType } },
            { tar, compress: { blob: other, mediaType } },
          ],
        },
      ]);
      const store = await FsStore.open(join(work, 'twins-store'));
      const chunked = join(work, 'twins');
      await convertLayout(src, { store, out: chunked });
      for (const concurrency of [1, 2]) {
        const reads = new Map<string, number>();
        const counting: ChunkReader = {
          get: (digest) => {
            reads.set(digest, (reads.get(digest) ?? 0) + 1);
            return store.get(digest);
          },
        };
        const out = join(work, `twins-back-${concurrency}`);
        const report = await restoreLayout(chunked, { store: counting, out, concurrency });
        const layers = report.manifests[0]!.layers;
        expect(layers.map((l) => [l.how, l.digest])).toEqual([
          ['uncompressed', sha256(tar)],
          ['uncompressed', sha256(tar)],
        ]);
        const blob = readFileSync(join(out, 'blobs', 'sha256', sha256(tar).slice(7)));
        expect(blob.equals(tar)).toBe(true);
        // Each chunk of the tar was read once: the second layer did not rebuild it.
        expect(reads.size).toBeGreaterThan(0);
        expect([...reads.values()].every((n) => n === 1)).toBe(true);
      }
    }, 60_000);
  },
);
