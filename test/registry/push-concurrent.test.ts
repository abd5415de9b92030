/**
 * Layers pushed at once (`maxUploads`, `--max-uploads`): into a registry of the test's own that
 * counts the uploads open at once, holds each completing answer back so that uploads overlap
 * when they may, and refuses what a test names; a layer that fails stops the others.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryError } from '../../src/errors.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { openStore } from '../../src/node/open-store.js';
import { pushImage } from '../../src/registry/push.js';
import type { ChunkReader } from '../../src/store/types.js';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { buildLayout, gnuGzip } from '../oci/helpers.js';
import { buildImages, tar } from './helpers.js';
import { startUploadRegistry, type UploadRegistryOptions } from './upload-registry.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-push-concurrent-'));
const store = join(work, 'store');
let chunked: string;

beforeAll(async () => {
  requireDist();
  const { src } = buildImages(work);
  chunked = join(work, 'chunked');
  const r = await runCli(['oci', 'convert', src, '--store', store, '--out', chunked]);
  expect(r.code, r.stderr).toBe(0);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * `pushImage` of the `exact` image (a config, then two layers) into a registry of the test's
 * own started with `options`; each chunk read from the store waits `readDelayMs` first.
 * @returns the registry, and the push's outcome (its report, or what it threw).
 */
const pushExact = async (
  options: UploadRegistryOptions,
  maxUploads: number | undefined,
  readDelayMs = 0,
) => {
  const reg = await startUploadRegistry(options);
  const layout = await OciLayout.open(chunked);
  const chunks = await openStore(store);
  const slow: ChunkReader = {
    get: (digest, into) =>
      new Promise((r) => setTimeout(r, readDelayMs)).then(() => chunks.get(digest, into)),
  };
  try {
    const outcome = await pushImage(layout, `${reg.host}/x:t`, {
      store: slow,
      ref: 'exact',
      plainHttp: true,
      hash: nodeHashProvider(),
      ...(maxUploads !== undefined ? { maxUploads } : {}),
    }).catch((err: unknown) => err);
    return { reg, outcome };
  } finally {
    await chunks.close();
    reg.close();
  }
};

it('uploads the layers of a manifest at once, as many as maxUploads allows', async () => {
  const one = await pushExact({ holdCompletionMs: 500 }, 1);
  const two = await pushExact({ holdCompletionMs: 500 }, undefined);
  for (const { reg, outcome } of [one, two]) {
    expect(outcome).toMatchObject({ uploaded: 3, present: 0 });
    expect(reg.manifests.has('t')).toBe(true);
  }
  // One at a time: each layer's upload begins after the last one's answer.
  expect(one.reg.openMost).toBe(1);
  // Three by default: both layers' uploads are open at once.
  expect(two.reg.openMost).toBe(2);
  // The same image either way.
  expect(two.reg.manifests.get('t')).toEqual(one.reg.manifests.get('t'));
}, 60_000);

it('resumes layers that break off while both are uploading', async () => {
  const cut = new Set<string>();
  // Each upload's first PUT is cut off after 2,000 bytes (the config is shorter).
  const { reg, outcome } = await pushExact(
    {
      holdCompletionMs: 300,
      cut: (r) => {
        if (r.method !== 'PUT' || cut.has(r.path)) return undefined;
        cut.add(r.path);
        return 2000;
      },
    },
    undefined,
  );
  expect(outcome).toMatchObject({ uploaded: 3, resumed: 2 });
  expect(reg.openMost).toBe(2);
  expect(reg.requests.filter((r) => r.status === 'cut')).toHaveLength(2);
  expect(reg.manifests.has('t')).toBe(true);
}, 60_000);

it('stops the other layers when one fails, deletes their uploads, and tags nothing', async () => {
  let posts = 0;
  // The config's upload, then the first layer's; the second layer's is refused. Every chunk
  // read waits 300 ms, so the first layer is still being made when the second fails.
  const { reg, outcome } = await pushExact(
    { refuse: (r) => (r.method === 'POST' && ++posts === 3 ? 400 : undefined) },
    undefined,
    300,
  );
  expect(outcome).toBeInstanceOf(RegistryError);
  expect(outcome).toMatchObject({ status: 400 });
  // Only the config was completed (upload u1). The first layer's upload (u2) stopped before
  // its end and was deleted; the refused POST opened none.
  expect(reg.blobs.size).toBe(1);
  const u2 = '/v2/x/blobs/uploads/u2';
  expect(reg.requests.filter((r) => r.method === 'POST' && r.status === 202)).toHaveLength(2);
  expect(reg.requests.filter((r) => r.path === u2 && r.status === 201)).toEqual([]);
  expect(reg.requests).toContainEqual(expect.objectContaining({ method: 'DELETE', path: u2 }));
  expect(reg.manifests.size).toBe(0);
}, 60_000);

it('does not wait for a request of another layer when one fails', async () => {
  let posts = 0;
  let puts = 0;
  const started = Date.now();
  // The second layer's POST is held 5 s; meanwhile the first layer's PUT is refused.
  const { outcome } = await pushExact(
    {
      delayMs: (r) => (r.method === 'POST' && ++posts === 3 ? 5000 : undefined),
      refuse: (r) => (r.method === 'PUT' && ++puts === 2 ? 400 : undefined),
    },
    undefined,
  );
  expect(outcome).toMatchObject({ status: 400 });
  expect(Date.now() - started).toBeLessThan(3000);
}, 60_000);

it('does not wait for a blob check (HEAD) of another layer when one fails', async () => {
  let heads = 0;
  let puts = 0;
  const started = Date.now();
  // The config's HEAD, the first layer's, then the second layer's, held 5 s; meanwhile the
  // first layer's PUT is refused.
  const { reg, outcome } = await pushExact(
    {
      delayMs: (r) => (r.method === 'HEAD' && ++heads === 3 ? 5000 : undefined),
      refuse: (r) => (r.method === 'PUT' && ++puts === 2 ? 400 : undefined),
    },
    undefined,
  );
  expect(outcome).toMatchObject({ status: 400 });
  expect(Date.now() - started).toBeLessThan(3000);
  expect(heads).toBe(3);
  expect(reg.manifests.size).toBe(0);
}, 60_000);

it('uploads once a blob that two layers made at once fall back to', async () => {
  // Two gzip blobs of the same tar (the second's header names another mtime), which nothing
  // reproduces: both layers are restored uncompressed, under the same digest, their diff_id.
  const gz = gnuGzip(tar(6));
  const other = gz.slice();
  other[4] = 1;
  const mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip';
  const src = join(work, 'twins-src');
  const out = join(work, 'twins');
  buildLayout(src, [
    {
      tag: 'twins',
      layers: [
        { tar: tar(6), compress: { blob: gz, mediaType } },
        { tar: tar(6), compress: { blob: other, mediaType } },
      ],
    },
  ]);
  const r = await runCli(['oci', 'convert', src, '--store', store, '--out', out]);
  expect(r.code, r.stderr).toBe(0);
  const reg = await startUploadRegistry({ holdCompletionMs: 500 });
  const chunks = await openStore(store);
  try {
    const report = await pushImage(await OciLayout.open(out), `${reg.host}/x:t`, {
      store: chunks,
      plainHttp: true,
      hash: nodeHashProvider(),
    });
    const diffId = sha256(tar(6));
    expect(report.manifests[0]!.layers.map((l) => [l.digest, l.kept])).toEqual([
      [diffId, false],
      [diffId, false],
    ]);
    // The config and one layer; the second layer waited for the first's upload, then found
    // the blob there.
    expect(report).toMatchObject({ uploaded: 2, present: 1 });
    const puts = reg.requests.filter(
      (q) => q.method === 'PUT' && q.query.includes(diffId.slice(7)),
    );
    expect(puts).toHaveLength(1);
    expect(reg.blobs.has(diffId)).toBe(true);
  } finally {
    await chunks.close();
    reg.close();
  }
}, 60_000);

it('refuses --max-uploads that is not a positive whole number', async () => {
  const r = await runCli([
    'oci',
    'push',
    chunked,
    '127.0.0.1:1/x:t',
    '--store',
    store,
    '--max-uploads',
    '0',
  ]);
  expect(r.code).toBe(2);
  expect(r.stderr.toString()).toMatch(/--max-uploads must be a positive integer/);
});
