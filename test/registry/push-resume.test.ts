/**
 * Uploads that break off: `oci push` asks the registry where the upload stands, makes the blob
 * again from its start, and sends on from the first byte the registry lacks, or from the start
 * in a new upload where the registry lost it. Tokens are renewed ahead of their expiry, and a
 * token refused mid-upload is renewed and the upload goes on. Into Debian's `docker-registry`
 * behind a proxy that cuts requests off, and into a registry of our own that keeps what a cut
 * request sent. One layer at a time, so that the requests come in an order the tests can
 * read; `push-concurrent.test.ts` resumes layers uploaded at once.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHashProvider } from '../../src/node/hash.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { openStore } from '../../src/node/open-store.js';
import { pushImage } from '../../src/registry/push.js';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layoutFiles } from '../oci/helpers.js';
import { noAuthFiles, startRegistry } from './auth-servers.js';
import { startCuttingProxy } from './cutting-proxy.js';
import { buildImages } from './helpers.js';
import {
  type SeenRequest,
  startUploadRegistry,
  type UploadRegistry,
  type UploadRegistryOptions,
} from './upload-registry.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-push-resume-'));
const store = join(work, 'store');
const skopeo = (...args: string[]) =>
  promisify(execFile)('skopeo', args, { timeout: 60_000 }).then((r) => r.stdout);
let src: string;
let chunked: string;
/** The blobs of the `exact` image: path under the layout to digest. */
let blobs: Record<string, string>;
/** 0.1 MiB, the part size these tests push with. */
const PART = Math.floor(0.1 * 1024 * 1024);

/** `oci push --json` of the `exact` image, with the environment of {@link noAuthFiles}. */
const push = async (target: string, more: string[] = []) => {
  const r = await runCli(
    [
      'oci',
      'push',
      `${chunked}:exact`,
      target,
      '--store',
      store,
      '--plain-http',
      '--json',
      '--max-uploads',
      '1',
      ...more,
    ],
    { timeoutMs: 60_000, env: noAuthFiles(work) },
  );
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString());
};

beforeAll(async () => {
  requireDist();
  ({ src } = buildImages(work));
  chunked = join(work, 'chunked');
  const r = await runCli(['oci', 'convert', src, '--store', store, '--out', chunked]);
  expect(r.code, r.stderr).toBe(0);
  blobs = Object.fromEntries(
    Object.entries(layoutFiles(src)).filter(([p]) => p.startsWith('blobs/')),
  );
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(toolsAvailable('docker-registry', 'skopeo', 'python3'))(
  'through a proxy that cuts uploads off, into the Docker distribution registry',
  () => {
    /**
     * Pushes through a proxy that cuts off the first request `chosen` picks after `keep`
     * bytes; checks the image skopeo reads back, blob for blob; gives the report and what
     * the proxy saw.
     */
    const pushCut = async (
      name: string,
      chosen: (method: string, range: string | undefined, length: number) => boolean,
      keep: number,
      more: string[] = [],
    ) => {
      const registry = await startRegistry(work, name);
      let done = false;
      const proxy = await startCuttingProxy(registry.host, (req) => {
        if (done || !/\/blobs\/uploads\/./.test(req.url ?? '')) return undefined;
        const range = req.headers['content-range'] as string | undefined;
        if (!chosen(req.method ?? '', range, Number(req.headers['content-length']))) {
          return undefined;
        }
        done = true;
        return keep;
      });
      try {
        const report = await push(`${proxy.host}/test/resumed:v1`, more);
        const original = await skopeo('inspect', '--raw', `oci:${src}:exact`);
        expect(report.digest).toBe(sha256(Buffer.from(original)));
        const back = join(work, `${name}-back`);
        // skopeo checks every blob's digest as it reads it.
        await skopeo(
          'copy',
          '--preserve-digests',
          '--src-tls-verify=false',
          `docker://${registry.host}/test/resumed:v1`,
          `oci:${back}:v1`,
        );
        const got = Object.entries(layoutFiles(back)).filter(([p]) => p.startsWith('blobs/'));
        // The manifest, its config and two layers, each the original's.
        expect(got).toHaveLength(4);
        for (const [path, digest] of got) expect(blobs[path], path).toBe(digest);
        return { report, log: proxy.log };
      } finally {
        proxy.close();
        registry.child.kill('SIGKILL');
      }
    };

    it('a blob cut off mid-PUT is made again and sent in a new upload', async () => {
      const { report, log } = await pushCut(
        'cut-put',
        (m, _, length) => m === 'PUT' && length > 100_000,
        100_000,
      );
      expect(report).toMatchObject({ uploaded: 3, resumed: 1 });
      const cut = log.findIndex((l) => l.endsWith(' cut'));
      expect(log[cut]).toMatch(/^PUT \/v2\/test\/resumed\/blobs\/uploads\/[-0-9a-f]+ cut$/);
      // Asked where the upload stands: distribution 2.8 lost it (its size is not what its
      // last answer said); the blob is not there; a new upload.
      expect(log.slice(cut + 1, cut + 4)).toEqual([
        expect.stringMatching(/^GET \/v2\/test\/resumed\/blobs\/uploads\/[-0-9a-f]+ 404$/),
        expect.stringMatching(/^HEAD \/v2\/test\/resumed\/blobs\/sha256:[0-9a-f]{64} 404$/),
        'POST /v2/test/resumed/blobs/uploads/ 202',
      ]);
    }, 60_000);

    it('a part cut off mid-PATCH (--part-size), of a gzip layer recompressed', async () => {
      // The second part of the second layer, which Python's gzip made: it is made again by
      // recompressing from the start.
      let seconds = 0;
      const { report, log } = await pushCut(
        'cut-patch',
        (m, range) => m === 'PATCH' && !range?.startsWith('0-') && ++seconds === 2,
        50_000,
        ['--part-size', '0.1'],
      );
      expect(report).toMatchObject({ uploaded: 3, resumed: 1 });
      expect(report.manifests[0].layers.map((l: { how: string }) => l.how)).toEqual([
        'as-is',
        'recompressed',
      ]);
      const cut = log.findIndex((l) => l.endsWith(' cut'));
      expect(log[cut]).toMatch(/^PATCH /);
      expect(log[cut + 2]).toBe(
        `HEAD /v2/test/resumed/blobs/${report.manifests[0].layers[1].digest} 404`,
      );
      expect(log.filter((l) => l.endsWith(' cut'))).toHaveLength(1);
    }, 60_000);
  },
);

/** Runs `body` against a registry of {@link startUploadRegistry}, closed after. */
async function withRegistry(
  options: UploadRegistryOptions,
  body: (reg: UploadRegistry) => Promise<void>,
): Promise<void> {
  const reg = await startUploadRegistry(options);
  try {
    await body(reg);
  } finally {
    reg.close();
  }
}

/** A registry's `cut` that cuts off its `n`th `PATCH` after `keep` bytes. */
function cutPatch(n: number, keep: number) {
  let patches = 0;
  return (r: SeenRequest) => (r.method === 'PATCH' && ++patches === n ? keep : undefined);
}

describe('into a registry that keeps what a cut request sent', () => {
  it('resumes a part from the first byte the registry lacks', async () => {
    await withRegistry({ cut: cutPatch(2, 30_000) }, async (reg) => {
      const report = await push(`${reg.host}/x:t`, ['--part-size', '0.1']);
      expect(report).toMatchObject({ uploaded: 3, resumed: 1 });
      const at = reg.requests.findIndex((r) => r.status === 'cut');
      const upload = reg.requests[at]!.path;
      expect(reg.requests[at]!.range).toBe(`${PART}-${2 * PART - 1}`);
      // Asked where it stands (204, 0-<last byte held>); on from there, the blob made again.
      expect(reg.requests.slice(at + 1, at + 3)).toEqual([
        expect.objectContaining({ method: 'GET', path: upload, status: 204 }),
        expect.objectContaining({
          method: 'PATCH',
          path: upload,
          range: `${PART + 30_000}-${2 * PART + 30_000 - 1}`,
          status: 202,
        }),
      ]);
      // Every blob complete, each digest checked by the registry as it completed.
      expect(reg.blobs.size).toBe(3);
      for (const d of reg.blobs.keys()) expect(Object.values(blobs)).toContain(d);
      expect(reg.manifests.get('t')).toBeDefined();
      expect(sha256(reg.manifests.get('t')!)).toBe(report.digest);
    });
  }, 60_000);

  it('starts anew where the registry holds other bytes than its status says (416)', async () => {
    // The status says one byte less than is held: the part sent on from there is answered
    // 416, and the blob goes up in a new upload.
    const statusRange = (held: number) => `0-${held - 2}`;
    await withRegistry({ cut: cutPatch(2, 30_000), statusRange }, async (reg) => {
      const report = await push(`${reg.host}/x:t`, ['--part-size', '0.1']);
      expect(report).toMatchObject({ uploaded: 3, resumed: 2 });
      const at = reg.requests.findIndex((r) => r.status === 'cut');
      const upload = reg.requests[at]!.path;
      expect(reg.requests.slice(at + 1, at + 6)).toEqual([
        expect.objectContaining({ method: 'GET', path: upload, status: 204 }),
        expect.objectContaining({ method: 'PATCH', path: upload, status: 416 }),
        expect.objectContaining({ method: 'DELETE', path: upload, status: 204 }),
        expect.objectContaining({ method: 'HEAD', status: 404 }),
        expect.objectContaining({ method: 'POST', status: 202 }),
      ]);
      expect(reg.blobs.size).toBe(3);
    });
  }, 60_000);

  it('does not send a blob again whose completing answer was lost', async () => {
    let puts = 0;
    await withRegistry({ loseAnswer: () => ++puts === 1 }, async (reg) => {
      const report = await push(`${reg.host}/x:t`);
      expect(report).toMatchObject({ uploaded: 3, resumed: 1 });
      const at = reg.requests.findIndex((r) => r.status === 'cut');
      // The upload is gone (completed): the blob is there, and not sent again.
      expect(reg.requests.slice(at + 1, at + 3)).toEqual([
        expect.objectContaining({ method: 'GET', status: 404 }),
        expect.objectContaining({ method: 'HEAD', status: 200 }),
      ]);
      expect(reg.requests.filter((r) => r.method === 'POST')).toHaveLength(3);
    });
  }, 60_000);

  it('uploads a blob whose mount the registry refuses', async () => {
    await withRegistry({ other: { name: 'y', mountStatus: 405 } }, async (reg) => {
      const report = await push(`${reg.host}/x:t`, ['--mount-from', 'y']);
      expect(report).toMatchObject({ uploaded: 3, mounted: 0 });
      const mounts = reg.requests.filter((r) => r.query.startsWith('?mount=sha256'));
      expect(mounts.map((r) => `${r.query.replace(/[0-9a-f]{64}/, 'D')} ${r.status}`)).toEqual(
        Array(3).fill('?mount=sha256%3AD&from=y 405'),
      );
      expect(reg.blobs.size).toBe(3);
    });
    // A repository whose blob checks fail (403) is passed over: nothing is asked to mount.
    await withRegistry({ other: { name: 'y', mountStatus: 201, headStatus: 403 } }, async (reg) => {
      const report = await push(`${reg.host}/x:t`, ['--mount-from', 'y']);
      expect(report).toMatchObject({ uploaded: 3, mounted: 0 });
      expect(reg.requests.filter((r) => r.path.startsWith('/v2/y/'))).toHaveLength(3);
      expect(reg.requests.filter((r) => r.query.startsWith('?mount='))).toEqual([]);
    });
  }, 60_000);

  it('renews a token refused mid-upload, and goes on', async () => {
    let patches = 0;
    await withRegistry(
      {
        tokens: { lifetimeS: 300, revoke: (r) => r.method === 'PATCH' && ++patches === 2 },
      },
      async (reg) => {
        const report = await push(`${reg.host}/x:t`, ['--part-size', '0.1']);
        expect(report).toMatchObject({ uploaded: 3, resumed: 1 });
        expect(reg.tokensIssued).toBe(2);
        const refused = reg.requests.filter((r) => r.status === 401);
        // The first request (no token yet), and the part whose token was revoked.
        expect(refused.map((r) => r.method)).toEqual(['HEAD', 'PATCH']);
        const after = reg.requests.slice(reg.requests.indexOf(refused[1]!) + 1);
        expect(after.find((r) => r.method === 'PATCH')).toMatchObject({
          authorization: 'Bearer t2',
          status: 202,
        });
      },
    );
  }, 60_000);

  /** `pushImage` of the `exact` image with `fetch`, pausing `delayMs` before each request. */
  const pushSlowly = async (host: string, delayMs: number, retryDelayMs?: number) => {
    const layout = await OciLayout.open(chunked);
    const chunks = await openStore(store);
    try {
      return await pushImage(layout, `${host}/x:t`, {
        store: chunks,
        ref: 'exact',
        plainHttp: true,
        hash: nodeHashProvider(),
        partSize: PART,
        maxUploads: 1,
        ...(retryDelayMs !== undefined ? { retryDelayMs } : {}),
        fetch: (url, init) =>
          new Promise((r) => setTimeout(r, delayMs)).then(() => fetch(url, init)),
      });
    } finally {
      await chunks.close();
    }
  };

  it('renews tokens ahead of their expiry (expires_in)', async () => {
    // Tokens of 2 s, taken for 1 s more so that a loaded machine's delays do not count; a
    // push slowed to over 3 s would have its token refused if it were not renewed ahead.
    await withRegistry({ tokens: { lifetimeS: 2, graceS: 1 } }, async (reg) => {
      const started = Date.now();
      const report = await pushSlowly(reg.host, 250);
      expect(Date.now() - started).toBeGreaterThan(3000);
      expect(report.resumed).toBe(0);
      // Only the first request, before any token, was refused: each token was replaced
      // before it expired.
      expect(reg.requests.filter((r) => r.status === 401)).toHaveLength(1);
      expect(reg.tokensIssued).toBeGreaterThanOrEqual(2);
    });
  }, 60_000);

  it('gives up an upload that keeps breaking off, and tags nothing', async () => {
    await withRegistry(
      {
        cut: (r: SeenRequest) => (r.method === 'PATCH' || r.method === 'PUT' ? 1000 : undefined),
      },
      async (reg) => {
        const failed = await pushSlowly(reg.host, 0, 1).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(failed).toMatchObject({ code: 'ERR_REGISTRY' });
        expect(String(failed)).toMatch(
          /the upload of sha256:[0-9a-f]{64} broke off 11 times, the registry holding \d+ of its \d+ bytes at the last; given up: no answer/,
        );
        expect(reg.requests.filter((r) => r.status === 'cut')).toHaveLength(11);
        expect(reg.manifests.size).toBe(0);
      },
    );
  }, 60_000);
});
