// @ts-check
/**
 * `npm run bench:gc`: a garbage collection after a new layer version, beside `openssl dgst
 * -sha256` of the layer measured in the same run.
 *
 * The store holds two versions of the 1.1 GiB benchmark layer (benchmarks/make-layer.mjs): v1,
 * and v2, the same with 100 MiB of its large file replaced. Collecting with v2 alone kept
 * drops v1's own chunks: the packs that held them are rewritten (their kept chunks read,
 * verified and written again). Each run starts from a copy of that store. Rows: the dry run
 * (marking and planning only), the collection, and `cat` of v2 from the collected store to
 * /dev/null (checked once against v2's sha256, writing it to a file).
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench), LAYERDIFF_BENCH_REPS (3).
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { benchLayer } from './make-layer.mjs';
import { cli, dir, reps, rssHook, shebang } from './setup.mjs';

const MiB = 1024 * 1024;
const work = join(dir, 'gc');
mkdirSync(work, { recursive: true });

const v1 = await benchLayer(dir, 1100);
const size = statSync(v1).size;
const v2 = join(work, 'layer-1100-v2.tar');
if (!existsSync(v2)) {
  // 100 MiB of the large file (the layer's last 586 MiB or so) replaced: same headers, same size.
  console.error(`writing ${v2} ...`);
  execFileSync('cp', [v1, `${v2}.part`]);
  const fd = openSync(`${v2}.part`, 'r+');
  const c = createCipheriv(
    'aes-256-ctr',
    createHash('sha256').update('v2').digest(),
    Buffer.alloc(16),
  );
  const zero = Buffer.alloc(4 * MiB);
  for (let at = size - 300 * MiB; at < size - 200 * MiB; at += zero.length) {
    writeSync(fd, c.update(zero), 0, zero.length, at);
  }
  closeSync(fd);
  execFileSync('mv', [`${v2}.part`, v2]);
}

/**
 * Runs a command; wall seconds, and for node the peak RSS (MiB) and CPU seconds it reports.
 * @param {string[]} args @param {boolean} node
 */
function run(args, node) {
  const t = process.hrtime.bigint();
  const r = node
    ? spawnSync(process.execPath, [...shebang.flags, '-r', rssHook, ...args], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
        env: { ...process.env, ...shebang.env },
      })
    : spawnSync(args[0] ?? 'true', args.slice(1), { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const rss = /@@maxrss_kib=(\d+)/.exec(r.stderr ?? '');
  const cpu = /@@cpu_s=([\d.]+)/.exec(r.stderr ?? '');
  return {
    wall,
    rss: rss ? Number(rss[1]) / 1024 : 0,
    cpu: cpu ? Number(cpu[1]) : 0,
    stdout: r.stdout,
  };
}

const sha = (/** @type {string} */ f) =>
  execFileSync('openssl', ['dgst', '-sha256', '-r', f], { encoding: 'utf8' }).split(' ')[0];

// The store of both versions, made once; each collection runs on a copy of it.
const base = join(work, 'store-v1v2');
if (!existsSync(join(work, 'v2.idx'))) {
  rmSync(base, { recursive: true, force: true });
  run([cli, 'convert', v1, '--store', base, '--out', join(work, 'v1.idx')], true);
  run([cli, 'convert', v2, '--store', base, '--out', join(work, 'v2.idx')], true);
}
const store = join(work, 'store');
const copy = () => {
  rmSync(store, { recursive: true, force: true });
  execFileSync('cp', ['-a', base, store]);
  execFileSync('sync');
};
const median = (/** @type {number[]} */ xs) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

/** @type {{ name: string, wall: number[], ratio: number[], rss: number, cpu: number[], note: string }[]} */
const rows = [];
const row = (/** @type {string} */ name) => {
  const r = { name, wall: [], ratio: [], rss: 0, cpu: [], note: '' };
  rows.push(r);
  return r;
};
const ssl = row('openssl dgst -sha256 of v1 (baseline)');
const dry = row('layerdiff gc --dry-run (mark and plan)');
const gc = row('layerdiff gc, v2 kept (v1 dropped)');
const cat = row('layerdiff cat v2 from the collected store (for scale)');
/** @type {Record<string, unknown>} */
let report = {};
for (let i = 0; i < reps; i++) {
  copy();
  const b = run(['openssl', 'dgst', '-sha256', v1], false).wall;
  ssl.wall.push(b);
  ssl.ratio.push(1);
  const args = [cli, 'gc', join(work, 'v2.idx'), '--store', store, '--json'];
  for (const [r, extra] of /** @type {const} */ ([
    [dry, ['--dry-run']],
    [gc, []],
  ])) {
    const m = run([...args, ...extra], true);
    r.wall.push(m.wall);
    r.ratio.push(m.wall / b);
    r.rss = Math.max(r.rss, m.rss);
    r.cpu.push(m.cpu);
    if (r === gc) report = JSON.parse(m.stdout);
  }
  if (i === 0) {
    // Checked once, untimed: writing a 1.1 GB file is not what the row measures.
    const out = join(work, 'v2.out.tar');
    run([cli, 'cat', join(work, 'v2.idx'), '--store', store, '--out', out], true);
    if (sha(out) !== sha(v2)) throw new Error('v2 does not rebuild from the collected store');
    rmSync(out);
  }
  const m = run([cli, 'cat', join(work, 'v2.idx'), '--store', store, '--out', '/dev/null'], true);
  cat.wall.push(m.wall);
  cat.ratio.push(m.wall / b);
  cat.rss = Math.max(cat.rss, m.rss);
  cat.cpu.push(m.cpu);
}

console.log(
  `v1 ${v1} (${size.toLocaleString()} bytes), v2 with 100 MiB of it replaced; median of ${reps}\n`,
);
console.log('| operation | wall s | peak RSS MiB | CPU s | ratio to openssl |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.name} | ${median(r.wall).toFixed(2)} | ${r.rss ? r.rss.toFixed(0) : '-'} | ${r.cpu.length ? median(r.cpu).toFixed(2) : '-'} | ${median(r.ratio).toFixed(2)}x |`,
  );
}
console.log(`\nthe collection's report: ${JSON.stringify(report)}`);
