/**
 * The registry handler as an edge function in real workerd (`workerd serve`, no compatibility
 * flags): a chunked layout and its chunks embedded in the Worker, served on a socket on
 * 127.0.0.1, pulled from by skopeo (every digest checked as it copies) and by fetch (a byte
 * range of a layer rebuilt in the Worker, HEAD). Needs `npm run build` first.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertLayout } from '../../src/node/oci-convert.js';
import { MemoryStore } from '../../src/store/memory.js';
import { goGzip } from '../go/go.js';
import { pseudoRandom, text } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import { buildLayout, layoutFiles } from '../oci/helpers.js';
import { pgzipAvailable, pgzipGzip } from '../pgzip/pgzip.js';
import { layerTar } from '../pipeline/flatten-helpers.js';
import { startRegistry } from '../registry/auth-servers.js';
import { freePort } from '../registry/helpers.js';
import { renderConfig } from './render-config.js';
import { startWorkerd } from './start-workerd.js';

const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '.fixtures-registry');
const work = mkdtempSync(join(tmpdir(), 'layerdiff-workerd-registry-'));

const tar = (seed: number) =>
  layerTar([
    { type: 'dir', path: 'srv' },
    { type: 'file', path: `srv/data-${seed}`, body: pseudoRandom(250_000, seed), mode: 0o644 },
  ]);

const skopeo = (...args: string[]) =>
  execFileSync('skopeo', args, { stdio: 'pipe', timeout: 60_000 }).toString();

/** Text that compresses, so that pgzip's blocks hold matches. */
const big = layerTar([{ type: 'file', path: 'srv/words', body: text(1_500_000, 4), mode: 0o644 }]);

describe.runIf(toolsAvailable('skopeo', 'python3', 'go') && pgzipAvailable())(
  'registry handler in workerd',
  () => {
    let src: string;
    let host: string;
    let child: ChildProcess;
    let log = () => '';

    beforeAll(async () => {
      src = join(work, 'src');
      buildLayout(src, [
        {
          tag: 'v1',
          layers: [
            { tar: tar(1), compress: 'none' },
            { tar: tar(2), compress: { python: 6 } },
            // Go's gzip: the Worker recompresses it with the Go engine, under its digest.
            { tar: tar(3), compress: { blob: goGzip(tar(3), -1), mediaType: GZIP } },
            // pgzip's (umoci, skopeo, podman): recompressed with the pgzip engine. Over 1 MiB, so
            // that it has two pgzip blocks, the second primed with the first's tail.
            { tar: big, compress: { blob: pgzipGzip(big, -1), mediaType: GZIP } },
          ],
        },
      ]);
      const store = new MemoryStore();
      const chunked = join(work, 'chunked');
      await convertLayout(src, { store, out: chunked });
      const files: Record<string, string> = {};
      for (const path of Object.keys(layoutFiles(chunked))) {
        files[path] = readFileSync(join(chunked, path)).toString('base64');
      }
      const chunks: Record<string, string> = {};
      for (const d of store.digests())
        chunks[d] = Buffer.from(await store.get(d)).toString('base64');
      rmSync(fixtures, { recursive: true, force: true });
      mkdirSync(fixtures);
      writeFileSync(join(fixtures, 'registry.json'), JSON.stringify({ files, chunks }));
      host = `127.0.0.1:${await freePort()}`;
      const config = renderConfig(join(here, 'registry.capnp'), fixtures, { address: host });
      const running = await startWorkerd(config, `http://${host}/v2/`, (r) => r.status === 200);
      child = running.child;
      log = running.log;
    }, 60_000);

    afterAll(() => {
      child?.kill('SIGKILL');
      rmSync(work, { recursive: true, force: true });
    });

    it('skopeo pulls the image byte for byte from the Worker', () => {
      const out = join(work, 'pulled');
      skopeo(
        'copy',
        '--preserve-digests',
        '--src-tls-verify=false',
        `docker://${host}/edge/img:v1`,
        `oci:${out}:v1`,
      );
      const want = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0].digest;
      const raw = Buffer.from(skopeo('inspect', '--raw', `oci:${out}:v1`));
      expect(sha256(raw), log()).toBe(want);
      const orig = layoutFiles(src);
      for (const [path, digest] of Object.entries(layoutFiles(out))) {
        if (path.startsWith('blobs/')) expect(orig[path], path).toBe(digest);
      }
      expect(Object.keys(layoutFiles(out)).filter((p) => p.startsWith('blobs/'))).toHaveLength(6);
    });

    it.runIf(toolsAvailable('docker-registry'))(
      'pushes the image into a registry from the Worker, byte for byte',
      async () => {
        const registry = await startRegistry(work, 'pushed-from-workerd');
        try {
          const r = await fetch(`http://${host}/_push?target=${registry.host}/edge/pushed:v1`, {
            method: 'POST',
          });
          const report = await r.json();
          expect(r.status, `${JSON.stringify(report)}\n${log()}`).toBe(200);
          expect(report.uploaded).toBe(5);
          expect(report.manifests[0].layers.map((l: { how: string }) => l.how)).toEqual([
            'as-is',
            'recompressed',
            'recompressed',
            'recompressed',
          ]);
          const want = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8')).manifests[0]
            .digest;
          expect(report.digest).toBe(want);
          const out = join(work, 'pushed-back');
          skopeo(
            'copy',
            '--preserve-digests',
            '--src-tls-verify=false',
            `docker://${registry.host}/edge/pushed:v1`,
            `oci:${out}:v1`,
          );
          const orig = layoutFiles(src);
          for (const [path, digest] of Object.entries(layoutFiles(out))) {
            if (path.startsWith('blobs/')) expect(orig[path], path).toBe(digest);
          }
        } finally {
          registry.child.kill('SIGKILL');
        }
      },
    );

    it('answers HEAD, GET with its length, and a byte range of a layer it recompresses', async () => {
      const manifest = await (
        await fetch(`http://${host}/v2/edge/img/manifests/v1`, {
          headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).json();
      const gz = manifest.layers[1];
      const head = await fetch(`http://${host}/v2/edge/img/blobs/${gz.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(gz.size));
      const whole = readFileSync(join(src, 'blobs/sha256', gz.digest.slice(7)));
      const full = await fetch(`http://${host}/v2/edge/img/blobs/${gz.digest}`);
      expect(full.headers.get('content-length')).toBe(String(gz.size));
      expect(Buffer.from(await full.arrayBuffer()).equals(whole)).toBe(true);
      const r = await fetch(`http://${host}/v2/edge/img/blobs/${gz.digest}`, {
        headers: { range: 'bytes=1000-60999' },
      });
      expect(r.status).toBe(206);
      expect(r.headers.get('content-range')).toBe(`bytes 1000-60999/${gz.size}`);
      const part = Buffer.from(await r.arrayBuffer());
      expect(part.equals(whole.subarray(1000, 61000))).toBe(true);
    });
  },
);
