/**
 * `layerdiff oci push` into Debian's `docker-registry` on 127.0.0.1: chunked images restored
 * straight into the registry, then read back by skopeo, which checks every digest. Blobs the
 * registry has are not uploaded again; a layer whose recompression does not come out as
 * recorded goes up uncompressed and the wrong bytes never land; failures leave no tag.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHashProvider } from '../../src/node/hash.js';
import { OciLayout } from '../../src/node/oci-layout.js';
import { openStore } from '../../src/node/open-store.js';
import { type DeflateEngine, pakoDeflateEngine } from '../../src/oci/gzip-reproduce.js';
import { pushImage } from '../../src/registry/push.js';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layoutFiles } from '../oci/helpers.js';
import { noAuthFiles, type Registry, serveLayout, startRegistry } from './auth-servers.js';
import { buildImages, tar } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-push-'));
const store = join(work, 'store');
const skopeo = (...args: string[]) =>
  promisify(execFile)('skopeo', args, { timeout: 60_000 }).then((r) => r.stdout);
let src: string;
let multi: string;
let chunked: string;
let chunkedMulti: string;

/** `oci push` with the environment of {@link noAuthFiles}. */
const push = (args: string[]) =>
  runCli(['oci', 'push', ...args, '--store', store, '--plain-http'], {
    timeoutMs: 60_000,
    env: noAuthFiles(work),
  });

/** The blobs of a layout, path to digest. */
const blobsOf = (layout: string) =>
  Object.fromEntries(Object.entries(layoutFiles(layout)).filter(([p]) => p.startsWith('blobs/')));

beforeAll(async () => {
  requireDist();
  ({ src, multi } = buildImages(work));
  chunked = join(work, 'chunked');
  chunkedMulti = join(work, 'chunked-multi');
  for (const [from, to] of [
    [src, chunked],
    [multi, chunkedMulti],
  ] as const) {
    const r = await runCli(['oci', 'convert', from, '--store', store, '--out', to]);
    expect(r.code, r.stderr).toBe(0);
  }
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(toolsAvailable('docker-registry', 'skopeo', 'python3', 'gzip'))(
  'oci push into the Docker distribution registry',
  () => {
    let registry: Registry;
    let host: string;
    beforeAll(async () => {
      registry = await startRegistry(work, 'push-data');
      host = registry.host;
    }, 30_000);
    afterAll(() => {
      registry?.child.kill('SIGKILL');
    });
    const inspect = (ref: string) => skopeo('inspect', '--raw', '--tls-verify=false', ref);

    it('pushes an image byte for byte; a second push uploads nothing', async () => {
      const first = await push([`${chunked}:exact`, `${host}/test/pushed:v1`, '--json']);
      expect(first.code, first.stderr).toBe(0);
      const report = JSON.parse(first.stdout.toString());
      const original = await skopeo('inspect', '--raw', `oci:${src}:exact`);
      expect(report.digest).toBe(sha256(Buffer.from(original)));
      expect(report.target).toBe(`${host}/test/pushed:v1`);
      // Config and two layers.
      expect(report).toMatchObject({ uploaded: 3, present: 0 });
      expect(report.manifests[0].layers.map((l: { how: string }) => l.how)).toEqual([
        'as-is',
        'recompressed',
      ]);
      expect(await inspect(`docker://${host}/test/pushed:v1`)).toBe(original);
      // skopeo reads every blob back and checks each digest (--preserve-digests: without it,
      // skopeo recompresses the gzip layer as it writes the OCI layout).
      const back = join(work, 'back');
      await skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/test/pushed:v1`,
        `oci:${back}:v1`,
      );
      const want = blobsOf(src);
      for (const [path, digest] of Object.entries(blobsOf(back))) {
        expect(want[path], `${path} ${readFileSync(join(back, path)).subarray(0, 200)}`).toBe(
          digest,
        );
      }

      const logBefore = registry.log().length;
      const again = await push([`${chunked}:exact`, `${host}/test/pushed:v2`]);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout.toString()).toMatch(/0 blobs uploaded \(0 bytes\), 3 already there/);
      const requests = registry.log().slice(logBefore);
      expect(requests).not.toMatch(/blobs\/uploads/);
      expect(await inspect(`docker://${host}/test/pushed:v2`)).toBe(original);
    });

    it('pushes a layer nothing reproduces uncompressed, under a new manifest', async () => {
      const r = await push([`${chunked}:changed`, `${host}/test/changed`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.toString()).toMatch(/CHANGED to sha256:[0-9a-f]{64}/);
      const manifest = JSON.parse(await inspect(`docker://${host}/test/changed:latest`));
      expect(manifest.layers[0].digest).toBe(sha256(tar(3)));
      await skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/test/changed:latest`,
        `oci:${join(work, 'changed-back')}:x`,
      );
    });

    it('pushes a multi-platform image: children first, the index under the tag', async () => {
      const r = await push([`${chunkedMulti}:v1`, `${host}/test/multi:v1`]);
      expect(r.code, r.stderr).toBe(0);
      expect(await inspect(`docker://${host}/test/multi:v1`)).toBe(
        await skopeo('inspect', '--raw', `oci:${multi}:v1`),
      );
      await skopeo(
        'copy',
        '--all',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/test/multi:v1`,
        `oci:${join(work, 'multi-back')}:v1`,
      );
    });

    it('a recompression that does not come out as recorded: the bytes never land, the layer goes up uncompressed', async () => {
      // An engine under pako's name that deflates at another level.
      const pako = pakoDeflateEngine();
      const liar: DeflateEngine = {
        ...pako,
        createDeflateRaw: (p) => pako.createDeflateRaw({ ...p, level: p.level === 6 ? 5 : 6 }),
      };
      const layout = await OciLayout.open(chunked);
      const s = await openStore(store);
      try {
        const report = await pushImage(layout, `${host}/test/liar:x`, {
          store: s,
          ref: 'exact',
          plainHttp: true,
          engines: [liar],
          hash: nodeHashProvider(),
        });
        const layer = report.manifests[0]!.layers[1]!;
        expect(layer.kept).toBe(false);
        expect(layer.reason).toMatch(/recompressing with pako-2\.1\.0 level \d gave sha256:/);
        const head = await fetch(`http://${host}/v2/test/liar/blobs/${layer.originalDigest}`, {
          method: 'HEAD',
        });
        expect(head.status).toBe(404);
        const manifest = JSON.parse(await inspect(`docker://${host}/test/liar:x`));
        expect(manifest.layers[1].digest).toBe(sha256(tar(2)));
        expect(report.digest).not.toBe(
          sha256(Buffer.from(await skopeo('inspect', '--raw', `oci:${src}:exact`))),
        );
      } finally {
        await s.close();
      }
    });

    it('uploads in PATCH parts with --part-size, and a wrong blob in parts never lands', async () => {
      const logBefore = registry.log().length;
      // 0.1 MiB: the 300,000-byte layers go up in three parts and a last PUT.
      const r = await push([`${chunked}:exact`, `${host}/test/parts:v1`, '--part-size', '0.1']);
      expect(r.code, r.stderr).toBe(0);
      const log = registry.log().slice(logBefore);
      const patches = log.split('\n').filter((l) => l.includes('http.request.method=PATCH'));
      expect(patches.length).toBeGreaterThanOrEqual(4);
      await skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/test/parts:v1`,
        `oci:${join(work, 'parts-back')}:v1`,
      );
      expect(await inspect(`docker://${host}/test/parts:v1`)).toBe(
        await skopeo('inspect', '--raw', `oci:${src}:exact`),
      );

      const pako = pakoDeflateEngine();
      const liar: DeflateEngine = {
        ...pako,
        createDeflateRaw: (p) => pako.createDeflateRaw({ ...p, level: p.level === 6 ? 5 : 6 }),
      };
      const s = await openStore(store);
      try {
        const report = await pushImage(await OciLayout.open(chunked), `${host}/test/parts-liar:x`, {
          store: s,
          ref: 'exact',
          plainHttp: true,
          engines: [liar],
          hash: nodeHashProvider(),
          partSize: 50_000,
        });
        const layer = report.manifests[0]!.layers[1]!;
        expect(layer.kept).toBe(false);
        const head = await fetch(
          `http://${host}/v2/test/parts-liar/blobs/${layer.originalDigest}`,
          { method: 'HEAD' },
        );
        expect(head.status).toBe(404);
        const manifest = JSON.parse(await inspect(`docker://${host}/test/parts-liar:x`));
        expect(manifest.layers[1].digest).toBe(sha256(tar(2)));
      } finally {
        await s.close();
      }
      const bad = await push([`${chunked}:exact`, `${host}/test/x:y`, '--part-size', '0']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--part-size takes a positive number of MiB/);
    });

    it('mounts blobs from the repositories --mount-from names, where they are', async () => {
      const first = await push([`${chunked}:exact`, `${host}/test/mnt-a:v1`]);
      expect(first.code, first.stderr).toBe(0);
      const logBefore = registry.log().length;
      const r = await push([
        `${chunked}:exact`,
        `${host}/test/mnt-b:v1`,
        '--mount-from',
        'test/none',
        '--mount-from',
        'test/mnt-a',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.toString()).toMatch(
        /0 blobs uploaded \(0 bytes\), 0 already there, 3 mounted from other repositories\n/,
      );
      // Asked of the repository that has them (test/none has none of them). The registry
      // logs each request twice.
      const mounts = registry
        .log()
        .slice(logBefore)
        .match(/blobs\/uploads\/\?mount=sha256%3A[0-9a-f]{64}&from=test%2Fmnt-a/g);
      expect(new Set(mounts).size).toBe(3);
      const original = await skopeo('inspect', '--raw', `oci:${src}:exact`);
      expect(await inspect(`docker://${host}/test/mnt-b:v1`)).toBe(original);
      await skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/test/mnt-b:v1`,
        `oci:${join(work, 'mnt-back')}:v1`,
      );
      const tagged = await push([
        `${chunked}:exact`,
        `${host}/test/mnt-c:v1`,
        '--mount-from',
        'test/mnt-a:v1',
      ]);
      expect(tagged.code).toBe(2);
      expect(tagged.stderr).toMatch(/name a repository, without tag or digest/);
      // A chunked layout naming where it was pulled from in a malformed way is refused.
      const tampered = join(work, 'chunked-tampered');
      cpSync(chunked, tampered, { recursive: true });
      const index = JSON.parse(readFileSync(join(tampered, 'index.json'), 'utf8'));
      index.annotations['dev.layerdiff.source'] = `${host}/test/mnt-a:v1`;
      writeFileSync(join(tampered, 'index.json'), JSON.stringify(index));
      const bad = await push([`${tampered}:exact`, `${host}/test/mnt-d:v1`]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(
        /ERR_OCI_FORMAT: index\.json: dev\.layerdiff\.source ".*" is not host\/repository/,
      );
    });

    it('refuses a digest target, and an ambiguous layout', async () => {
      const digest = await push([chunked, `${host}/test/x@sha256:${'a'.repeat(64)}`]);
      expect(digest.code).toBe(2);
      expect(digest.stderr).toMatch(/push to a tag/);
      const two = await push([chunked, `${host}/test/x:y`]);
      expect(two.code).toBe(2);
      expect(two.stderr).toMatch(/holds 2 images: name one by its tag/);
    });
  },
);

describe.runIf(toolsAvailable('python3', 'gzip'))('oci push into a slow registry', () => {
  it('an upload slower than the idle timeout goes on while its bytes move', async () => {
    // A registry whose uploads take a piece of the body every 150 ms, so that each layer's
    // PUT lasts several idle timeouts (a fetch of the test's own: no socket buffers between
    // the body and the reader). The rest answers as a registry without the blobs does.
    const longest: number[] = [];
    const slowFetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
      const method = init.method ?? 'GET';
      if (method === 'HEAD') return new Response(null, { status: 404 });
      if (method === 'POST') {
        return new Response(null, { status: 202, headers: { location: '/v2/x/blobs/uploads/u' } });
      }
      if (method === 'PUT' && init.body instanceof ReadableStream) {
        const started = Date.now();
        const reader = init.body.getReader();
        while (!(await reader.read()).done) {
          await new Promise((r) => setTimeout(r, 150));
          // As fetch does: a request whose signal aborts fails.
          if (init.signal?.aborted) throw init.signal.reason;
        }
        longest.push(Date.now() - started);
        return new Response(null, { status: 201 });
      }
      if (method === 'PUT') return new Response(null, { status: 201 });
      throw new Error(`unexpected ${method} ${String(input)}`);
    }) as typeof fetch;
    const s = await openStore(store);
    try {
      const report = await pushImage(await OciLayout.open(chunked), '127.0.0.1:9/x:t', {
        store: s,
        ref: 'exact',
        plainHttp: true,
        hash: nodeHashProvider(),
        fetch: slowFetch,
        idleTimeoutMs: 400,
      });
      expect(report.uploaded).toBe(3);
      expect(Math.max(...longest)).toBeGreaterThan(800);
    } finally {
      await s.close();
    }
  });
});

describe.runIf(toolsAvailable('python3', 'gzip'))('oci push into a registry that fails', () => {
  it('no upload location, a failed upload, a refused manifest: typed errors, and no tag', async () => {
    const cases: Array<
      [
        string,
        (
          req: import('node:http').IncomingMessage,
          res: import('node:http').ServerResponse,
        ) => boolean,
        RegExp,
      ]
    > = [
      [
        'no location',
        (req, res) => {
          if (req.method !== 'POST') return false;
          res.writeHead(202).end();
          return true;
        },
        /ERR_REGISTRY: .*blobs\/uploads\/: gave no upload location: null/,
      ],
      [
        'upload fails',
        (req, res) => {
          if (req.method === 'POST') {
            res.writeHead(202, { location: '/v2/x/blobs/uploads/u1' }).end();
            return true;
          }
          if (req.method === 'PUT' && req.url?.startsWith('/v2/x/blobs/uploads/u1')) {
            req.resume();
            req.on('end', () => res.writeHead(500).end('{"errors":[{"code":"UNKNOWN"}]}'));
            return true;
          }
          return false;
        },
        // Asked again three times after the first (the registry's status answers lost it).
        /ERR_REGISTRY: http:\/\/127\.0\.0\.1:\d+\/v2\/x\/blobs\/uploads\/u1\?digest=sha256%3A[0-9a-f]{64}: the upload of sha256:[0-9a-f]{64} broke off 4 times, the registry holding 0 of its \d+ bytes at the last; given up: answered 500/,
      ],
      [
        'manifest refused',
        (req, res) => {
          if (req.method === 'POST') {
            res.writeHead(202, { location: '/v2/x/blobs/uploads/u2' }).end();
            return true;
          }
          if (req.method === 'PUT') {
            req.resume();
            req.on('end', () =>
              req.url?.includes('/manifests/')
                ? res.writeHead(400).end('{"errors":[{"code":"MANIFEST_INVALID"}]}')
                : res.writeHead(201).end(),
            );
            return true;
          }
          return false;
        },
        /ERR_REGISTRY: http:\/\/127\.0\.0\.1:\d+\/v2\/x\/manifests\/sha256:[0-9a-f]{64}: answered 400: .*MANIFEST_INVALID/,
      ],
    ];
    for (const [name, intercept, error] of cases) {
      const tagged: string[] = [];
      const served = await serveLayout(src, {
        intercept(req, res) {
          if (req.method === 'HEAD') {
            res.writeHead(404).end();
            return true;
          }
          if (req.method === 'PUT' && req.url === '/v2/x/manifests/t') tagged.push(req.url);
          return intercept(req, res);
        },
      });
      try {
        const r = await push([`${chunked}:exact`, `${served.host}/x:t`]);
        expect(r.code, name).toBe(1);
        expect(r.stderr, name).toMatch(error);
        expect(tagged, name).toEqual([]);
      } finally {
        served.close();
      }
    }
  });

  it('a blob check answered 503, or a manifest answered 204: typed errors, not a hang', async () => {
    // Answers with no body: reading one for the error message once waited forever.
    const served = await serveLayout(src, {
      intercept(req, res) {
        if (req.method === 'HEAD') res.writeHead(503).end();
        else if (req.url === '/v2/x/manifests/exact') res.writeHead(204).end();
        else return false;
        return true;
      },
    });
    const s = await openStore(store);
    try {
      const failed = await pushImage(await OciLayout.open(chunked), `${served.host}/x:t`, {
        store: s,
        ref: 'exact',
        plainHttp: true,
        hash: nodeHashProvider(),
        retryDelayMs: 1,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failed).toMatchObject({ code: 'ERR_REGISTRY', status: 503 });
      const pulled = await runCli(
        [
          'oci',
          'pull',
          `${served.host}/x:exact`,
          '--plain-http',
          '--store',
          store,
          '--out',
          join(work, 'no'),
        ],
        { timeoutMs: 30_000, env: noAuthFiles(work) },
      );
      expect(pulled.code, pulled.stderr).toBe(1);
      expect(pulled.stderr).toMatch(/ERR_OCI_FORMAT/);
    } finally {
      await s.close();
      served.close();
    }
  });
});
