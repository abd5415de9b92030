/**
 * `layerdiff serve` as a real registry on 127.0.0.1, pulled from by a real client: skopeo
 * copies images out of it (checking every digest as it goes), a multi-platform image with
 * `--all`, and an image whose gzip layer cannot be reproduced arrives as `oci restore`
 * writes it. A layer with a chunk gone breaks off at the HTTP level, and the server says why.
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireDist, runCli } from '../cli/run.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { layoutFiles } from '../oci/helpers.js';
import { buildImages, type Served, startServe, stopServe, tar } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-serve-'));
const skopeo = (...args: string[]) =>
  execFileSync('skopeo', args, { stdio: 'pipe', timeout: 60_000 }).toString();
/** `skopeo copy` from the registry (plain HTTP) into an OCI layout. */
const pull = (from: string, to: string, ...extra: string[]) =>
  skopeo(
    'copy',
    '--preserve-digests',
    ...extra,
    '--src-tls-verify=false',
    `docker://${from}`,
    `oci:${to}`,
  );
const blob = (layout: string, digest: string) =>
  readFileSync(join(layout, 'blobs/sha256', digest.slice(7)));

describe.runIf(toolsAvailable('skopeo', 'python3', 'gzip'))('layerdiff serve and skopeo', () => {
  let src: string;
  let multi: string;
  let server: Served;
  beforeAll(async () => {
    requireDist();
    ({ src, multi } = buildImages(work));
    const store = join(work, 'store');
    for (const [from, to] of [
      [src, 'img'],
      [multi, 'multi-chunked'],
    ] as const) {
      const r = await runCli(['oci', 'convert', from, '--store', store, '--out', join(work, to)]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    server = await startServe([
      join(work, 'img'),
      `team/multi=${join(work, 'multi-chunked')}`,
      '--store',
      store,
    ]);
  }, 60_000);
  afterAll(async () => {
    if (server) await stopServe(server);
    rmSync(work, { recursive: true, force: true });
  });

  it('skopeo pulls an image byte for byte: the original manifest digest, every blob', () => {
    const out = join(work, 'pulled');
    pull(`${server.host}/img:exact`, `${out}:exact`);
    const original = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests.find(
      (m: { annotations: Record<string, string> }) =>
        m.annotations['org.opencontainers.image.ref.name'] === 'exact',
    );
    const raw = Buffer.from(skopeo('inspect', '--raw', `oci:${out}:exact`));
    expect(sha256(raw)).toBe(original.digest);
    const manifest = JSON.parse(raw.toString());
    for (const d of [manifest.config, ...manifest.layers]) {
      expect(sha256(blob(out, d.digest))).toBe(d.digest);
      expect(blob(out, d.digest).equals(blob(src, d.digest))).toBe(true);
    }
    expect(server.stdout).toContain(`img:exact ${original.digest} original digest`);
    const remote = JSON.parse(
      skopeo('inspect', '--tls-verify=false', `docker://${server.host}/img:exact`),
    );
    expect(remote.Digest).toBe(original.digest);
  });

  it('skopeo pulls every platform of a multi-platform image, the index byte for byte', () => {
    const out = join(work, 'pulled-multi');
    expect(pull(`${server.host}/team/multi:v1`, `${out}:v1`, '--all')).toMatch(
      /Copying 3 of 3 images in list/,
    );
    const want = skopeo('inspect', '--raw', `oci:${multi}:v1`);
    expect(skopeo('inspect', '--raw', `oci:${out}:v1`)).toBe(want);
    // Every blob skopeo wrote is one of the original layout's, byte for byte.
    const files = layoutFiles(out);
    const orig = layoutFiles(multi);
    for (const [path, digest] of Object.entries(files)) {
      if (path.startsWith('blobs/')) expect(orig[path], path).toBe(digest);
    }
  });

  it('an image with a gzip layer nothing reproduces arrives as oci restore writes it', async () => {
    const restored = join(work, 'restored');
    const r = await runCli([
      'oci',
      'restore',
      `${join(work, 'img')}:changed`,
      '--store',
      join(work, 'store'),
      '--out',
      restored,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.toString());
    const want = report.manifests[0];
    expect(want.kept).toBe(false);
    const out = join(work, 'pulled-changed');
    pull(`${server.host}/img:changed`, `${out}:changed`);
    const raw = Buffer.from(skopeo('inspect', '--raw', `oci:${out}:changed`));
    expect(sha256(raw)).toBe(want.digest);
    const layer = JSON.parse(raw.toString()).layers[0];
    expect(layer.digest).toBe(sha256(tar(3)));
    expect(blob(out, layer.digest).equals(Buffer.from(tar(3)))).toBe(true);
  });

  it('a layer whose chunk is gone breaks off at the HTTP level; the server says why', async () => {
    const store = join(work, 'loose');
    const chunked = join(work, 'loose-img');
    const c = await runCli([
      'oci',
      'convert',
      `${src}:exact`,
      '--store',
      store,
      '--store-layout',
      'loose',
      '--out',
      chunked,
    ]);
    expect(c.code).toBe(0);
    // The layer of 300,000 random bytes is several chunks; drop the largest chunk file.
    const chunks = readdirSync(store, { recursive: true, encoding: 'utf8' }).filter((f) =>
      /(^|\/)[0-9a-f]{64}(\.[a-z])?$/.test(f),
    );
    const sizes = chunks.map((f) => [readFileSync(join(store, f)).length, f] as const);
    sizes.sort((a, b) => b[0] - a[0]);
    unlinkSync(join(store, sizes[0]![1]));
    const broken = await startServe([`img=${chunked}`, '--store', store]);
    try {
      const manifest = await (
        await fetch(`http://${broken.host}/v2/img/manifests/exact`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).json();
      let failed = 0;
      for (const d of manifest.layers) {
        const res = await fetch(`http://${broken.host}/v2/img/blobs/${d.digest}`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-length')).toBe(String(d.size));
        await res.arrayBuffer().catch(() => failed++);
      }
      expect(failed).toBe(1);
      expect(broken.stderr()).toMatch(
        /layerdiff serve: GET \/v2\/img\/blobs\/sha256:[0-9a-f]{64}: chunk sha256:[0-9a-f]{64} is not in the store/,
      );
      expect(() =>
        pull(`${broken.host}/img:exact`, `${join(work, 'pulled-broken')}:exact`),
      ).toThrow();
    } finally {
      expect(await stopServe(broken)).toBe(0);
    }
  });

  it('--max-pulls 1 --blocking-reads: a client that goes away mid-body frees its turn', async () => {
    const one = await startServe([
      `img=${join(work, 'img')}`,
      '--store',
      join(work, 'store'),
      '--max-pulls',
      '1',
      '--blocking-reads',
    ]);
    try {
      const manifest = await (await fetch(`http://${one.host}/v2/img/manifests/exact`)).json();
      const url = `http://${one.host}/v2/img/blobs/${manifest.layers[1].digest}`;
      const abort = new AbortController();
      const first = await fetch(url, { signal: abort.signal });
      const reader = first.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      abort.abort();
      const second = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      const bytes = Buffer.from(await second.arrayBuffer());
      expect(sha256(bytes)).toBe(manifest.layers[1].digest);
      // Five pulls pipelined on one connection, nothing read, the connection closed: the
      // answers queued behind the first hear nothing of it, and once held their turns for good.
      const [hostname, port] = one.host.split(':') as [string, string];
      const path = new URL(url).pathname;
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(5));
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on('close', () => resolve());
        socket.on('error', () => {});
      });
      const third = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      expect(sha256(Buffer.from(await third.arrayBuffer()))).toBe(manifest.layers[1].digest);
    } finally {
      expect(await stopServe(one)).toBe(0);
    }
  });

  it('answers raw HTTP: absolute-form targets, dot segments, and a push that never ends', async () => {
    const [hostname, port] = server.host.split(':') as [string, string];
    /** Sends raw bytes; resolves with all the server sent once it closes the connection. */
    const raw = (text: string, keepSending = false) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname);
        let got = '';
        let timer: NodeJS.Timeout | undefined;
        socket.on('data', (b) => {
          got += b.toString('latin1');
        });
        socket.on('error', reject);
        socket.on('close', () => {
          clearInterval(timer);
          resolve(got);
        });
        socket.write(text);
        if (keepSending) {
          // A chunked body that goes on for as long as the connection stays open.
          const piece = `10000\r\n${'x'.repeat(0x10000)}\r\n`;
          timer = setInterval(() => socket.writable && socket.write(piece), 5);
        }
        setTimeout(() => socket.destroy(new Error('no answer in 10 s')), 10_000).unref();
      });
    const absolute = await raw(
      'GET http://elsewhere.invalid/v2/img/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(absolute).toMatch(/^HTTP\/1\.1 200 /);
    expect(absolute).toContain('"tags":["changed","exact"]');
    const dots = await raw(
      'GET /v2/img/../img/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(dots).toMatch(/^HTTP\/1\.1 200 /);
    const push = await raw(
      'PUT /v2/img/manifests/evil HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      true,
    );
    expect(push).toMatch(/^HTTP\/1\.1 405 /);
    expect(push).toContain('UNSUPPORTED');
    // A method fetch will not carry ended the server once.
    const trace = await raw('TRACE /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(trace).toMatch(/^HTTP\/1\.1 405 /);
    expect(
      await raw('GET /v2/img/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
    ).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('SIGHUP reads the layouts again; one that cannot be read leaves what was served', async () => {
    const swap = join(work, 'swap');
    cpSync(join(work, 'img'), swap, { recursive: true });
    const s = await startServe([`swap=${swap}`, '--store', join(work, 'store')]);
    const tags = async () =>
      (await (await fetch(`http://${s.host}/v2/swap/tags/list`)).json()).tags as string[];
    /** Polls (at most 10 s) until `check` holds. */
    const until = async (check: () => Promise<boolean> | boolean) => {
      for (let i = 0; !(await check()); i++) {
        if (i === 100) throw new Error(`gave up waiting; stderr: ${s.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      expect(await tags()).toEqual(['changed', 'exact']);
      // A new version put in place by a rename, as an operator would.
      renameSync(swap, `${swap}-old`);
      cpSync(join(work, 'multi-chunked'), swap, { recursive: true });
      s.child.kill('SIGHUP');
      await until(async () => (await tags()).includes('v1'));
      expect(await tags()).toEqual(['v1']);
      // A layout that cannot be read: the old one stays served.
      rmSync(swap, { recursive: true });
      mkdirSync(swap);
      s.child.kill('SIGHUP');
      await until(() => /reload failed/.test(s.stderr()));
      expect(s.stderr()).toMatch(
        /layerdiff serve: reload failed, still serving what was read before: .*oci-layout/,
      );
      expect(await tags()).toEqual(['v1']);
    } finally {
      expect(await stopServe(s)).toBe(0);
    }
  });

  it('holds its store open: gc refuses while it serves', async () => {
    const r = await runCli(['gc', '--oci', join(work, 'img'), '--store', join(work, 'store')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERR_STORE_LOCKED/);
  });
});
