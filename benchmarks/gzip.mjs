// @ts-check
/**
 * `npm run bench:gzip`: `oci convert` and `oci restore` of an image whose layer Go's gzip
 * compressed (as Docker and BuildKit compress layers), then of one pgzip compressed (as
 * skopeo, podman and buildah do), beside `gzip -dc` of the same blob and `gzip -6` of the
 * same tar, measured in the same run.
 *
 * The layer is the benchmark tar (benchmarks/make-layer.mjs; LAYERDIFF_BENCH_GZIP_MIB, 256 by
 * default, which still makes about 520 MB: its fixed files come first) gzipped at Go's
 * default level by layerdiff's Go-compatible encoder, and at pgzip's by its klauspost one,
 * both of which the tests check byte for byte against the real encoders. Conversion reads
 * the blob once and checks the compression it found beside the conversion; restore
 * recompresses it and checks the digest. The restored blob is compared with the original once
 * (untimed).
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench), LAYERDIFF_BENCH_REPS (3),
 * LAYERDIFF_BENCH_GZIP_MIB (256), LAYERDIFF_BENCH_GZIP_KINDS (`go,pgzip`).
 */

import { spawnSync } from 'node:child_process';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { sha256File, writeImageLayout } from './image-layout.mjs';
import { benchLayer } from './make-layer.mjs';
import { cli, dir, reps, rssHook, shebang } from './setup.mjs';

const sizeMiB = Number(process.env.LAYERDIFF_BENCH_GZIP_MIB ?? 256);
const kinds = (process.env.LAYERDIFF_BENCH_GZIP_KINDS ?? 'go,pgzip').split(',');
const work = join(dir, 'gzip');
mkdirSync(work, { recursive: true });

const tar = await benchLayer(dir, sizeMiB);
const { createGzipWriter, goDeflateEngine, klauspostDeflateEngine } = await import(
  '../dist/index.js'
);
/** The encoders: Go's at its default level 6, pgzip's (klauspost/compress 1.15) at 5. */
const encoders = {
  go: { engine: goDeflateEngine(), level: 6, what: 'as Go does' },
  pgzip: { engine: klauspostDeflateEngine(), level: 5, what: 'as pgzip does' },
};

/**
 * Wall seconds and peak RSS (MiB, for the CLI) of one command.
 * @param {string[]} args - for the CLI, or [cmd, ...args] with `shell`.
 * @param {{ shell?: boolean }} [opts]
 */
function once(args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = opts.shell
    ? spawnSync('sh', ['-c', args.join(' ')], { stdio: ['ignore', 'ignore', 'pipe'] })
    : spawnSync(process.execPath, [...shebang.flags, '-r', rssHook, cli, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, ...shebang.env },
      });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const m = /@@maxrss_kib=(\d+)/.exec(r.stderr.toString());
  return { wall, rss: m ? Number(m[1]) / 1024 : 0 };
}
const median = (/** @type {number[]} */ xs) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const row = (
  /** @type {string} */ name,
  /** @type {number} */ s,
  /** @type {number} */ base,
  /** @type {string} */ baseName,
  /** @type {number} */ rss,
) =>
  console.log(
    `${name.padEnd(34)} ${s.toFixed(2).padStart(7)} s  ${(s / base).toFixed(2).padStart(6)}x ${baseName.padEnd(10)} ${rss ? `${rss.toFixed(1)} MiB` : ''}`,
  );

for (const kind of kinds) {
  const encoder = encoders[/** @type {'go' | 'pgzip'} */ (kind)];
  if (!encoder) throw new Error(`LAYERDIFF_BENCH_GZIP_KINDS: no encoder ${kind}`);
  const { engine, level } = encoder;
  const blob = join(work, `layer-${sizeMiB}.${kind}${level}.tar.gz`);
  if (!existsSync(blob)) {
    console.error(`gzipping ${tar} ${encoder.what} ...`);
    // No mtime, XFL 0, OS 255: Go's and pgzip's header at these levels.
    const params = {
      engine: engine.name,
      level,
      memLevel: 8,
      strategy: 0,
      header: '1f8b08000000000000ff',
    };
    await /** @type {ReadableStream<Uint8Array>} */ (Readable.toWeb(createReadStream(tar)))
      .pipeThrough(createGzipWriter(params, engine))
      .pipeTo(Writable.toWeb(createWriteStream(`${blob}.part`)));
    renameSync(`${blob}.part`, blob);
  }
  const layout = join(work, `layout-${kind}`);
  const digest = writeImageLayout(layout, blob, {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    diffId: sha256File(tar),
  });
  const chunked = join(work, 'chunked');
  const store = join(work, 'store');
  const restored = join(work, 'restored');

  /** @type {Record<string, number[]>} */
  const times = { gunzip: [], gzip6: [], convert: [], restore: [] };
  let convertRss = 0;
  let restoreRss = 0;
  for (let i = 0; i < reps; i++) {
    times.gunzip?.push(once(['gzip', '-dc', blob, '>/dev/null'], { shell: true }).wall);
    times.gzip6?.push(once(['gzip', '-6', '-c', tar, '>/dev/null'], { shell: true }).wall);
    for (const d of [store, chunked, restored]) rmSync(d, { recursive: true, force: true });
    const c = once(['oci', 'convert', layout, '--store', store, '--out', chunked]);
    times.convert?.push(c.wall);
    convertRss = Math.max(convertRss, c.rss);
    const r = once(['oci', 'restore', chunked, '--store', store, '--out', restored]);
    times.restore?.push(r.wall);
    restoreRss = Math.max(restoreRss, r.rss);
    if (i === 0) {
      const back = join(restored, 'blobs', 'sha256', digest.slice(7));
      if (!existsSync(back) || sha256File(back) !== digest) {
        throw new Error(`the restored layer is not the original blob (${kind})`);
      }
    }
  }

  const gunzip = median(times.gunzip ?? []);
  const gzip6 = median(times.gzip6 ?? []);
  console.log(`layer: ${tar} gzipped ${encoder.what} (${digest}); median of ${reps}`);
  row('gzip -dc (baseline)', gunzip, gunzip, 'gzip -dc', 0);
  row('gzip -6 (baseline)', gzip6, gzip6, 'gzip -6', 0);
  row(
    'oci convert (reads the blob once)',
    median(times.convert ?? []),
    gunzip,
    'gzip -dc',
    convertRss,
  );
  row(
    `oci restore (recompresses, ${kind})`,
    median(times.restore ?? []),
    gzip6,
    'gzip -6',
    restoreRss,
  );
}
