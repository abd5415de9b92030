/**
 * `layerdiff oci pull` from real registries on 127.0.0.1: the Docker distribution registry
 * from Debian's `docker-registry` package (images pushed into it by skopeo) and `layerdiff
 * serve`; then `oci restore` gives the image back byte for byte. And from a registry that
 * lies: a tampered layer, an endless one, errors and a closed port, each a typed failure
 * with nothing left at `--out`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryLayout } from '../../src/registry/client.js';
import { retryAfter } from '../../src/registry/session.js';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layoutFiles } from '../oci/helpers.js';
import {
  noAuthFiles,
  type Registry,
  serveLayout,
  startRegistry,
  startTokenRegistry,
  startTokenService,
  type TokenService,
} from './auth-servers.js';
import { buildImages, freePort, startServe, stopServe, tar } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-pull-'));
const _GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const skopeo = (...args: string[]) =>
  execFileSync('skopeo', args, { stdio: 'pipe', timeout: 60_000 }).toString();
const store = join(work, 'store');
let n = 0;

/** `oci pull`, then `oci restore`; returns the restored layout (or the failed pull). */
async function pullAndRestore(reference: string, extra: string[] = []) {
  const out = join(work, `pulled-${++n}`);
  const pulled = await runCli(
    ['oci', 'pull', reference, '--store', store, '--out', out, ...extra],
    // No auth file of this machine's user is read: the pulls are anonymous.
    { timeoutMs: 60_000, env: noAuthFiles(work) },
  );
  if (pulled.code !== 0) return { pulled, restored: undefined, out };
  const restored = join(work, `restored-${n}`);
  const r = await runCli(['oci', 'restore', out, '--store', store, '--out', restored]);
  expect(r.stderr).toBe('');
  return { pulled, restored, out };
}

/** The blobs of a layout, path to digest. */
const blobsOf = (layout: string) =>
  Object.fromEntries(Object.entries(layoutFiles(layout)).filter(([p]) => p.startsWith('blobs/')));

let src: string;
let multi: string;
beforeAll(() => {
  requireDist();
  ({ src, multi } = buildImages(work));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.runIf(toolsAvailable('docker-registry', 'skopeo', 'python3', 'gzip'))(
  'oci pull from the Docker distribution registry',
  () => {
    let registry: Registry;
    let host: string;
    beforeAll(async () => {
      registry = await startRegistry(work, 'registry-data');
      host = registry.host;
      const push = (from: string, to: string, ...extra: string[]) =>
        skopeo('copy', '--preserve-digests', ...extra, '--dest-tls-verify=false', from, to);
      push(`oci:${src}:exact`, `docker://${host}/test/img:exact`);
      push(`oci:${src}:changed`, `docker://${host}/test/img:changed`);
      push(`oci:${multi}:v1`, `docker://${host}/test/multi:v1`, '--all');
    }, 90_000);
    afterAll(() => {
      registry?.child.kill('SIGKILL');
    });

    it('pulls an image into the store, fetching each layer once; restore gives it back byte for byte', async () => {
      const logBefore = registry.log().length;
      const { pulled, restored } = await pullAndRestore(`${host}/test/img:exact`, ['--plain-http']);
      expect(pulled.stderr).toBe('');
      expect(pulled.code).toBe(0);
      expect(pulled.stdout.toString()).toMatch(/gzip reproduced \(pako-2\.1\.0 level 6\)/);
      // Each layer was fetched once, its gzip compression worked out on the way.
      const requests = registry.log().slice(logBefore).split('\n');
      const wantRaw = skopeo('inspect', '--raw', `oci:${src}:exact`);
      for (const layer of JSON.parse(wantRaw).layers as Array<{ digest: string }>) {
        const gets = requests.filter(
          (l) => l.includes('http.request.method=GET') && l.includes(`/blobs/${layer.digest}"`),
        );
        expect(gets, layer.digest).toHaveLength(1);
      }
      expect(skopeo('inspect', '--raw', `oci:${restored}:exact`)).toBe(wantRaw);
      const orig = blobsOf(src);
      for (const [path, digest] of Object.entries(blobsOf(restored!))) {
        // Every blob restored is the original's (the restored index.json lists the pulled
        // image only).
        if (
          path !== `blobs/sha256/${sha256(readFileSync(join(restored!, 'index.json'))).slice(7)}`
        ) {
          expect(orig[path], path).toBe(digest);
        }
      }
    });

    it('pulls every platform of a multi-platform image, and one by digest', async () => {
      const { pulled, restored } = await pullAndRestore(`${host}/test/multi:v1`, ['--plain-http']);
      expect(pulled.code, pulled.stderr).toBe(0);
      const index = skopeo('inspect', '--raw', `oci:${multi}:v1`);
      expect(skopeo('inspect', '--raw', `oci:${restored}:v1`)).toBe(index);
      // One platform's manifest by its digest: the image (not an index) is pulled.
      const amd64 = JSON.parse(index).manifests[0].digest;
      const byDigest = await pullAndRestore(`${host}/test/multi@${amd64}`, ['--plain-http']);
      expect(byDigest.pulled.code, byDigest.pulled.stderr).toBe(0);
      const restoredIndex = JSON.parse(
        readFileSync(join(byDigest.restored!, 'index.json'), 'utf8'),
      );
      expect(restoredIndex.manifests.map((m: { digest: string }) => m.digest)).toEqual([amd64]);
    });

    it('a layer nothing reproduces is pulled and restored uncompressed, as oci restore does', async () => {
      const { pulled, restored } = await pullAndRestore(`${host}/test/img:changed`, [
        '--plain-http',
      ]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout.toString()).toMatch(/will restore uncompressed: gzip not reproduced/);
      const manifest = JSON.parse(skopeo('inspect', '--raw', `oci:${restored}:changed`));
      expect(manifest.layers[0].digest).toBe(sha256(tar(3)));
    });

    it('names a missing tag and a closed port as registry errors; HTTPS is the default', async () => {
      const missing = await pullAndRestore(`${host}/test/img:nope`, ['--plain-http']);
      expect(missing.pulled.code).toBe(1);
      expect(missing.pulled.stderr).toMatch(
        /ERR_REGISTRY: http:\/\/127\.0\.0\.1:\d+\/v2\/test\/img\/manifests\/nope: answered 404|no manifest nope/,
      );
      const closed = await pullAndRestore(`127.0.0.1:${await freePort()}/test/img:exact`, [
        '--plain-http',
      ]);
      expect(closed.pulled.stderr).toMatch(/ERR_REGISTRY: .*no answer/);
      // Without --plain-http the client speaks TLS, which this registry does not.
      const tls = await pullAndRestore(`${host}/test/img:exact`);
      expect(tls.pulled.stderr).toMatch(/ERR_REGISTRY: https:\/\/127\.0\.0\.1/);
      for (const r of [missing, closed, tls]) expect(existsSync(r.out)).toBe(false);
    });
  },
);

describe.runIf(toolsAvailable('docker-registry', 'skopeo', 'openssl', 'python3', 'gzip'))(
  'oci pull from a registry that hands out anonymous bearer tokens',
  () => {
    let registry: Registry;
    let tokens: TokenService;
    let host: string;
    beforeAll(async () => {
      tokens = await startTokenService(work);
      registry = await startTokenRegistry(work, 'registry-token-data', tokens);
      host = registry.host;
      // Not execFileSync: the token service runs in this process, and must answer meanwhile.
      await promisify(execFile)(
        'skopeo',
        [
          'copy',
          '--preserve-digests',
          '--dest-tls-verify=false',
          `oci:${src}:exact`,
          `docker://${host}/test/img:exact`,
        ],
        { timeout: 60_000 },
      );
    }, 90_000);
    afterAll(() => {
      registry?.child.kill('SIGKILL');
      tokens?.close();
    });

    it('asks the realm for a pull token, and pulls byte for byte', async () => {
      tokens.issued.length = 0;
      const { pulled, restored } = await pullAndRestore(`${host}/test/img:exact`, ['--plain-http']);
      expect(pulled.code, `${pulled.stderr}\n${registry.log()}`).toBe(0);
      expect(tokens.issued).toEqual([
        { method: 'GET', service: 'test-registry', scope: 'repository:test/img:pull', account: '' },
      ]);
      expect(skopeo('inspect', '--raw', `oci:${restored}:exact`)).toBe(
        skopeo('inspect', '--raw', `oci:${src}:exact`),
      );
    });
  },
);

describe.runIf(toolsAvailable('python3', 'gzip'))('oci pull from layerdiff serve', () => {
  it('a round trip: convert, serve, pull into another store, restore byte for byte', async () => {
    const first = join(work, 'first-store');
    const chunked = join(work, 'served');
    const c = await runCli(['oci', 'convert', src, '--store', first, '--out', chunked]);
    expect(c.code, c.stderr).toBe(0);
    const served = await startServe([`app=${chunked}`, '--store', first]);
    try {
      const { pulled, restored } = await pullAndRestore(`${served.host}/app:exact`, [
        '--plain-http',
      ]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(skopeo('inspect', '--raw', `oci:${restored}:exact`)).toBe(
        skopeo('inspect', '--raw', `oci:${src}:exact`),
      );
    } finally {
      expect(await stopServe(served)).toBe(0);
    }
  });
});

describe.runIf(toolsAvailable('python3', 'gzip'))('oci pull from a registry that lies', () => {
  /** Serves `src` as repository `x`, with `lie` changing what a blob's body is. */
  const liar = (
    lie: (digest: string, bytes: Buffer, res: import('node:http').ServerResponse) => boolean,
  ) =>
    serveLayout(src, {
      lie: (r) => r.kind === 'blobs' && r.req.method === 'GET' && lie(r.digest, r.bytes, r.res),
    });
  /** The digests of the `exact` image's layers (an uncompressed one, then a gzip one). */
  const layerDigests = () => {
    const index = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8'));
    const manifest = JSON.parse(
      readFileSync(join(src, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    );
    return (manifest.layers as Array<{ digest: string }>).map((l) => l.digest);
  };
  const layerDigest = () => layerDigests()[0]!;

  /**
   * Serves the `exact` image, each layer's body in two halves with `holdMs` between (and the
   * first layer tampered with when `tamper`); counts the layer bodies open at once, and those
   * whose connection closed before the whole body went.
   */
  const holding = async (holdMs: number, tamper = false, headersToo = false) => {
    const layers = layerDigests();
    const seen = { open: 0, most: 0, cutShort: 0 };
    const served = await liar((d, bytes, res) => {
      if (!layers.includes(d)) return false;
      const body = Buffer.from(bytes);
      if (tamper && d === layers[0]) {
        body[100_000]! ^= 1;
        res.writeHead(200, { 'content-length': body.length }).end(body);
        return true;
      }
      seen.most = Math.max(seen.most, ++seen.open);
      res.on('close', () => {
        seen.open--;
        if (!res.writableFinished) seen.cutShort++;
      });
      const half = body.length >> 1;
      // With `headersToo`, nothing at all goes before the hold.
      if (!headersToo) {
        res.writeHead(200, { 'content-length': body.length }).write(body.subarray(0, half));
      }
      const timer = setTimeout(() => {
        if (headersToo) res.writeHead(200, { 'content-length': body.length });
        res.end(body.subarray(headersToo ? 0 : half));
      }, holdMs);
      res.on('close', () => clearTimeout(timer));
      return true;
    });
    return { ...served, seen };
  };
  const pullFromHolding = (host: string, out: string, more: string[] = []) =>
    runCli(
      ['oci', 'pull', `${host}/x:exact`, '--plain-http', '--store', store, '--out', out, ...more],
      { timeoutMs: 30_000 },
    );

  it('fetches the layers at once, as many as --max-downloads allows', async () => {
    for (const [more, most] of [
      [['--max-downloads', '1'], 1],
      [[], 2],
    ] as const) {
      const { close, host, seen } = await holding(400);
      try {
        const out = join(work, `holding-${most}`);
        const r = await pullFromHolding(host, out, [...more]);
        expect(r.code, r.stderr).toBe(0);
        expect(seen.most).toBe(most);
        expect(seen.cutShort).toBe(0);
      } finally {
        close();
      }
    }
  });

  it.each([
    ['its body stops halfway', false],
    ['its answer is held', true],
  ])(
    'a layer that fails stops the one fetched beside it (%s), which is given up at once',
    async (_, headersToo) => {
      // The second layer is held for 20 s; the first is tampered with.
      const { close, host, seen } = await holding(20_000, true, headersToo);
      try {
        const out = join(work, 'holding-failed');
        const started = Date.now();
        const r = await pullFromHolding(host, out);
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(/ERR_OCI_DIGEST/);
        expect(existsSync(out)).toBe(false);
        // Its connection was closed with its body unsent: not waited for.
        expect(seen.cutShort).toBe(1);
        expect(Date.now() - started).toBeLessThan(15_000);
      } finally {
        close();
      }
    },
  );

  it('a tampered layer, an endless layer and a 500: typed failures, nothing left', async () => {
    const target = layerDigest();
    const cases: Array<[string, Parameters<typeof liar>[0], RegExp]> = [
      [
        'tampered',
        (d, bytes, res) => {
          if (d !== target) return false;
          const bad = Buffer.from(bytes);
          bad[100_000]! ^= 1; // inside the file body: the tar still parses
          res.writeHead(200, { 'content-length': bad.length }).end(bad);
          return true;
        },
        /ERR_OCI_DIGEST/,
      ],
      [
        'endless',
        (d, bytes, res) => {
          if (d !== target) return false;
          res.writeHead(200);
          const more = () => {
            if (!res.destroyed && res.write(bytes)) setImmediate(more);
            else if (!res.destroyed) res.once('drain', more);
          };
          more();
          return true;
        },
        /ERR_OCI_DIGEST: .*more than the descriptor's/,
      ],
      [
        'failing',
        (d, _bytes, res) => {
          if (d !== target) return false;
          // Longer than the 2 KiB of it read: its start is still told.
          const detail = 'x'.repeat(3000);
          res.writeHead(500).end(`{"errors":[{"code":"UNKNOWN","detail":"${detail}"}]}`);
          return true;
        },
        /ERR_REGISTRY: .*answered 500: .*UNKNOWN/,
      ],
    ];
    for (const [name, lie, error] of cases) {
      const { close, host } = await liar(lie);
      try {
        const out = join(work, `liar-${name}`);
        const r = await runCli(
          ['oci', 'pull', `${host}/x:exact`, '--plain-http', '--store', store, '--out', out],
          { timeoutMs: 15_000 },
        );
        expect(r.code, name).toBe(1);
        expect(r.stderr, name).toMatch(error);
        expect(existsSync(out), name).toBe(false);
      } finally {
        close();
      }
    }
  });

  it('resumes a layer that breaks off, with a range or from the start, and asks again after a 503', async () => {
    const target = layerDigest();
    const pullFrom = async (name: string, cut: (req: IncomingMessage) => number | undefined) => {
      const seen: string[] = [];
      let manifestTries = 0;
      const served = await serveLayout(src, {
        intercept(req, res) {
          if (req.url?.includes('/manifests/') && manifestTries++ === 0) {
            res.writeHead(503).end();
            return true;
          }
          return false;
        },
        lie({ req, res, kind, digest, bytes }) {
          if (kind !== 'blobs' || digest !== target || req.method !== 'GET') return false;
          seen.push(req.headers.range ?? 'whole');
          const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
          const stop = cut(req);
          if (from > 0 && name !== 'no ranges') {
            res.writeHead(206, {
              'content-length': bytes.length - from,
              'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}`,
            });
          } else {
            res.writeHead(200, { 'content-length': bytes.length });
          }
          const start = name === 'no ranges' ? 0 : from;
          if (stop === undefined) {
            res.end(bytes.subarray(start));
          } else {
            // Some bytes, then the connection goes.
            res.write(bytes.subarray(start, start + stop), () => res.destroy());
          }
          return true;
        },
      });
      try {
        const out = join(work, `resumed-${name.replace(/ /g, '-')}`);
        const r = await runCli(
          ['oci', 'pull', `${served.host}/x:exact`, '--plain-http', '--store', store, '--out', out],
          { timeoutMs: 60_000, env: noAuthFiles(work) },
        );
        return { r, seen, manifestTries };
      } finally {
        served.close();
      }
    };
    // Cut twice, each time after 100,000 bytes: resumed with ranges.
    let n = 0;
    const ranged = await pullFrom('ranges', () => (n++ < 2 ? 100_000 : undefined));
    expect(ranged.r.code, ranged.r.stderr).toBe(0);
    expect(ranged.seen).toEqual(['whole', 'bytes=100000-', 'bytes=200000-']);
    expect(ranged.manifestTries).toBeGreaterThan(1);
    // A registry that answers ranges with the whole blob: read again from the start.
    let m = 0;
    const whole = await pullFrom('no ranges', () => (m++ < 1 ? 100_000 : undefined));
    expect(whole.r.code, whole.r.stderr).toBe(0);
    expect(whole.seen).toEqual(['whole', 'bytes=100000-']);
    // One that breaks off every time, 1,000 bytes further each: given up, typed.
    const always = await pullFrom('always', () => 1000);
    expect(always.r.code).toBe(1);
    expect(always.r.stderr).toMatch(
      /ERR_REGISTRY: .*\/blobs\/sha256:[0-9a-f]{64}: broke off after 11000 bytes/,
    );
    expect(always.seen).toHaveLength(11);
  });

  it('refuses part of a layer (206) sent when the whole was asked for', async () => {
    const target = layerDigest();
    const served = await serveLayout(src, {
      lie({ req, res, kind, digest, bytes }) {
        if (kind !== 'blobs' || digest !== target || req.method !== 'GET') return false;
        const half = bytes.subarray(0, bytes.length >> 1);
        res.writeHead(206, {
          'content-length': half.length,
          'content-range': `bytes 0-${half.length - 1}/${bytes.length}`,
        });
        res.end(half);
        return true;
      },
    });
    try {
      const { pulled } = await pullAndRestore(`${served.host}/x:exact`, ['--plain-http']);
      expect(pulled.code).toBe(1);
      expect(pulled.stderr).toMatch(
        /ERR_REGISTRY: .*sent part of the blob \(206\) when asked for all/,
      );
    } finally {
      served.close();
    }
  });

  it('refuses registries that want credentials, or do not take the token they gave', async () => {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const host = req.headers.host;
      if (url.pathname === '/token') return res.end('{"token":"not-good-enough"}');
      if (url.pathname.startsWith('/v2/basic/')) {
        return res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      }
      return res
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="s"` })
        .end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await expect(registryLayout(`${host}/basic:t`, { plainHttp: true })).rejects.toMatchObject({
        code: 'ERR_REGISTRY_AUTH',
        status: 401,
        message: expect.stringMatching(
          /asks for a username and password \(HTTP Basic\): none given/,
        ),
      });
      await expect(registryLayout(`${host}/bearer:t`, { plainHttp: true })).rejects.toMatchObject({
        code: 'ERR_REGISTRY_AUTH',
        message: expect.stringMatching(/refused the token its token service gave/),
      });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives up a registry that stops sending, after the idle timeout', async () => {
    // Headers, then a few bytes of the manifest, then nothing.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      res.write('{"schemaVersion"');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      await expect(
        registryLayout(`${host}/x:t`, { plainHttp: true, idleTimeoutMs: 300 }),
      ).rejects.toMatchObject({
        code: 'ERR_REGISTRY',
        message: expect.stringMatching(/less than 77 bytes moved in 0.3 s/),
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives up a body that trickles a byte at a time, though its bytes keep coming', async () => {
    const timers = new Set<ReturnType<typeof setInterval>>();
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const t = setInterval(() => res.write(' '), 50);
      timers.add(t);
      res.once('close', () => clearInterval(t));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      await expect(
        registryLayout(`${host}/x:t`, { plainHttp: true, idleTimeoutMs: 300, retryDelayMs: 10 }),
      ).rejects.toMatchObject({
        code: 'ERR_REGISTRY',
        message: expect.stringMatching(/less than 77 bytes moved in 0.3 s/),
      });
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      server.close();
    }
  });

  it('waits as long as a 429 asks (Retry-After), and gives up one that asks for over a minute', async () => {
    const tooMany = async (after: string, times: number) => {
      let n = 0;
      return serveLayout(src, {
        intercept(req, res) {
          if (!req.url?.includes('/manifests/') || n++ >= times) return false;
          res.writeHead(429, { 'retry-after': after }).end();
          return true;
        },
      });
    };
    const once = await tooMany('1', 1);
    try {
      const started = Date.now();
      await registryLayout(`${once.host}/x:exact`, { plainHttp: true, retryDelayMs: 10 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      once.close();
    }
    const always = await tooMany('3600', 100);
    try {
      const started = Date.now();
      await expect(
        registryLayout(`${always.host}/x:exact`, { plainHttp: true, retryDelayMs: 10 }),
      ).rejects.toMatchObject({ code: 'ERR_REGISTRY', status: 429, retryAfterMs: 3_600_000 });
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      always.close();
    }
    expect(retryAfter('2')).toBe(2000);
    expect(retryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(retryAfter(new Date(Date.now() - 5000).toUTCString())).toBe(0);
    expect(retryAfter('soon')).toBeUndefined();
    expect(retryAfter(null)).toBeUndefined();
  });

  it('refuses references that name no registry, or are malformed', async () => {
    for (const ref of [
      'ubuntu:22.04',
      'library/ubuntu',
      'host:5000/UPPER:x',
      'host:5000/a@sha256:12',
    ]) {
      const r = await runCli(['oci', 'pull', ref, '--store', store, '--out', join(work, 'never')]);
      expect(r.code, ref).toBe(2);
      expect(r.stderr, ref).toMatch(/image reference/);
    }
  });
});
