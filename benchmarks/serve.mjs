// @ts-check
/**
 * `npm run bench:serve`: pulling a layer out of `layerdiff serve`, beside `openssl dgst
 * -sha256` of the same layer measured in the same run.
 *
 * The 1.1 GiB benchmark layer (benchmarks/make-layer.mjs) is the one uncompressed layer of an
 * OCI image layout, converted once into a pack store. Each run starts `layerdiff serve` on
 * 127.0.0.1 and `curl` fetches the layer's blob to /dev/null: once alone, then four at once (LAYERDIFF_BENCH_CLIENTS)
 * (every layer body rebuilt and verified on its own), and its last MiB as a byte range. The server's peak RSS is reported for
 * the whole run; the blob is checked once against its digest (untimed).
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench), LAYERDIFF_BENCH_REPS (3),
 * LAYERDIFF_BENCH_CLIENTS (4: the pulls at once).
 */

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File, writeImageLayout } from './image-layout.mjs';
import { benchLayer } from './make-layer.mjs';
import { cli, dir, reps, rssHook, shebang } from './setup.mjs';

const CLIENTS = Number(process.env.LAYERDIFF_BENCH_CLIENTS ?? 4);
const work = join(dir, 'serve');
mkdirSync(work, { recursive: true });

const tar = await benchLayer(dir, 1100);
const size = statSync(tar).size;
const MiB = 1024 * 1024;
/** curl's option for the layer's last MiB. */
const lastMiB = ['-r', `${size - MiB}-${size - 1}`];
const sha = sha256File;

// The image layout (its layer a hard link to the tar) and its chunked form, made once.
const layout = join(work, 'layout');
const chunked = join(work, 'chunked');
const store = join(work, 'store');
const diffId = sha(tar);
if (!existsSync(chunked)) {
  rmSync(store, { recursive: true, force: true });
  writeImageLayout(layout, tar, { mediaType: 'application/vnd.oci.image.layer.v1.tar', diffId });
  execFileSync(process.execPath, [
    cli,
    'oci',
    'convert',
    layout,
    '--store',
    store,
    '--out',
    chunked,
  ]);
}

/**
 * Starts `layerdiff serve` (as installed: its shebang's flags); resolves with its URL.
 * @param {string[]} [extra] - more options (`--blocking-reads`).
 */
function startServer(extra = []) {
  const child = spawn(
    process.execPath,
    [
      ...shebang.flags,
      '-r',
      rssHook,
      cli,
      'serve',
      `bench=${chunked}`,
      '--store',
      store,
      '--listen',
      '127.0.0.1:0',
      ...extra,
    ],
    { env: { ...process.env, ...shebang.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (b) => {
    err += b;
  });
  return /** @type {Promise<{ url: string, stop: () => Promise<number> }>} */ (
    new Promise((resolve, reject) => {
      child.on('exit', () => reject(new Error(`serve exited: ${err}`)));
      child.stdout.on('data', (b) => {
        out += b;
        const m = /listening on (http:\/\/\S+)\n/.exec(out);
        if (!m) return;
        resolve({
          url: /** @type {string} */ (m[1]),
          stop: () =>
            new Promise((done) => {
              child.removeAllListeners('exit');
              child.on('exit', () => {
                const rss = /@@maxrss_kib=(\d+)/.exec(err);
                done(rss ? Number(rss[1]) / 1024 : 0);
              });
              child.kill('SIGTERM');
            }),
        });
      });
    })
  );
}

/**
 * Wall seconds of `n` curls of `url` at once, each to `out` (or /dev/null).
 * @param {string} url @param {number} n @param {string} [out] @param {string[]} [extra]
 */
async function pull(url, n, out = '/dev/null', extra = []) {
  const t = process.hrtime.bigint();
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const c = spawn('curl', ['-sfS', ...extra, '-o', out, url], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let e = '';
          c.stderr.on('data', (b) => {
            e += b;
          });
          c.on('exit', (code) => (code === 0 ? resolve(0) : reject(new Error(`curl: ${e}`))));
        }),
    ),
  );
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const openssl = () => {
  const t = process.hrtime.bigint();
  const r = spawnSync('openssl', ['dgst', '-sha256', tar]);
  if (r.status !== 0) throw new Error('openssl failed');
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (/** @type {number[]} */ xs) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const blob = (/** @type {string} */ url) => `${url}/v2/bench/blobs/${diffId}`;
{
  // Checked once, untimed: the served blob is the layer.
  const s = await startServer();
  const out = join(work, 'pulled.tar');
  await pull(blob(s.url), 1, out);
  if (sha(out) !== diffId) throw new Error('the served layer differs from the tar');
  await pull(blob(s.url), 1, out, lastMiB);
  const want = join(work, 'tail.bin');
  execFileSync('sh', ['-c', `tail -c ${MiB} '${tar}' > '${want}'`]);
  if (sha(out) !== sha(want)) throw new Error('the served range differs from the tar');
  await s.stop();
  rmSync(out);
  rmSync(want);
}

/**
 * Times each pull `reps` times against a server started with `extra` options.
 * @param {string[]} extra
 */
async function measure(extra) {
  /** @type {Record<string, { wall: number[], ratio: number[] }>} */
  const rows = {
    ssl: { wall: [], ratio: [] },
    one: { wall: [], ratio: [] },
    tail: { wall: [], ratio: [] },
    many: { wall: [], ratio: [] },
  };
  let rss = 0;
  for (let i = 0; i < reps; i++) {
    const s = await startServer(extra);
    const b = openssl();
    rows.ssl.wall.push(b);
    rows.ssl.ratio.push(1);
    const one = await pull(blob(s.url), 1);
    rows.one.wall.push(one);
    rows.one.ratio.push(one / b);
    const tail = await pull(blob(s.url), 1, '/dev/null', lastMiB);
    rows.tail.wall.push(tail);
    rows.tail.ratio.push(tail / b);
    const b2 = openssl();
    const many = await pull(blob(s.url), CLIENTS);
    rows.many.wall.push(many);
    // Against openssl hashing the layer as many times: the same bytes made and checked.
    rows.many.ratio.push(many / (b2 * CLIENTS));
    rss = Math.max(rss, await s.stop());
  }
  return { rows, rss };
}
const modes = [
  { name: 'reads on the thread pool (the default)', ...(await measure([])) },
  { name: '--blocking-reads', ...(await measure(['--blocking-reads'])) },
];

console.log(
  `layer ${tar} (${size.toLocaleString()} bytes) served from ${store}; median of ${reps}\n`,
);
console.log('| operation | wall s | MB/s | ratio to openssl |');
console.log('|---|---:|---:|---:|');
const line = (
  /** @type {string} */ name,
  /** @type {{ wall: number[], ratio: number[] }} */ r,
  n = 1,
) =>
  console.log(
    `| ${name} | ${median(r.wall).toFixed(2)} | ${((size * n) / 1e6 / median(r.wall)).toFixed(0)} | ${median(r.ratio).toFixed(2)}x |`,
  );
line('openssl dgst -sha256 (baseline)', modes[0].rows.ssl);
for (const { name, rows } of modes) {
  line(`curl of the layer blob, ${name}`, rows.one);
  console.log(
    `| curl of the layer's last MiB (a byte range), ${name} | ${median(rows.tail.wall).toFixed(2)} | - | ${median(rows.tail.ratio).toFixed(2)}x |`,
  );
  line(`${CLIENTS} curls at once, ${name} (ratio to ${CLIENTS} openssl runs)`, rows.many, CLIENTS);
}
for (const { name, rss } of modes) {
  console.log(
    `\nthe server's peak RSS, ${name}, over each run's ${2 + CLIENTS} pulls: ${rss.toFixed(1)} MiB (largest of ${reps} runs)`,
  );
}
