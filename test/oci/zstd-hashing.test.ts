/**
 * `convertLayout` hashes a zstd layer (here `zstd -19`'s, an 8 MiB window) without the hashing worker,
 * as the CLI's `convert` does: the worker an earlier layer started is stopped, and none is
 * started for that layer. With hashing of the caller's own, the worker stays.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FsStore } from '../../src/node/fs-store.js';
import { parseFrames } from '../compress/frames.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import { started } from '../helpers/workers.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { buildLayout } from './helpers.js';

vi.mock('node:worker_threads', async (original) =>
  (await import('../helpers/workers.js')).recordWorkers(await original()),
);
const { convertLayout } = await import('../../src/node/oci-convert.js');
const { nodeHashProvider, stopHashWorker } = await import('../../src/node/hash.js');

const work = mkdtempSync(join(tmpdir(), 'layerdiff-oci-zstd-hashing-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Waits (at most `ms`) for a worker's exit event. */
async function exitOf(entry: { exited: boolean }, ms = 2000): Promise<boolean> {
  for (let i = 0; i < ms / 10 && !entry.exited; i++) await new Promise((r) => setTimeout(r, 10));
  return entry.exited;
}

describe.runIf(toolsAvailable('zstd'))('a zstd layer in a layout', () => {
  const plain = layerTar([{ type: 'file', path: 'bin/tool', body: pseudoRandom(300_000, 2) }]);
  const wide = layerTar([{ type: 'file', path: 'lib/big', body: pseudoRandom(400_000, 3) }]);
  // Through a pipe, zstd -19 keeps its 8 MiB window.
  const zst = new Uint8Array(execFileSync('zstd', ['-q', '-19', '-c'], { input: wide }));
  const layers = [
    { tar: plain, compress: 'none' as const },
    {
      tar: wide,
      compress: { blob: zst, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' },
    },
  ];

  it('is hashed without the worker, which the layer before it had started', async () => {
    expect(parseFrames(zst)[0]!.window).toBe(8 * 1024 * 1024);
    const src = join(work, 'src');
    buildLayout(src, [{ tag: 'a', layers }]);
    stopHashWorker();
    const before = started.length;
    const store = await FsStore.open(join(work, 'store'));
    const conv = await convertLayout(src, { store, out: join(work, 'chunked') });
    // Converted, each diff_id checked against the config's.
    expect(conv.manifests[0]!.layers.map((l) => l.compression)).toEqual(['none', 'zstd']);
    // The plain layer's hashing started one worker; the zstd layer stopped it, started none.
    expect(started.length - before).toBe(1);
    expect(await exitOf(started.at(-1)!)).toBe(true);
  });

  it("keeps the worker with the caller's own hashing", async () => {
    const src = join(work, 'src2');
    buildLayout(src, [{ tag: 'a', layers }]);
    stopHashWorker();
    const before = started.length;
    const store = await FsStore.open(join(work, 'store2'));
    await convertLayout(src, { store, out: join(work, 'chunked2'), hash: nodeHashProvider() });
    expect(started.length - before).toBe(1);
    expect(await exitOf(started.at(-1)!, 200)).toBe(false);
    stopHashWorker();
  });
});
