// @ts-check
/**
 * `npm run bench:scenarios`: what a new layer version costs, side by side with casync, restic
 * and `zstd --patch-from` (each where installed), measured in the same run; then flatten and
 * extract of a two-layer image, and a 1 GiB upload through HTTP, with peak RSS.
 *
 * Sections (LAYERDIFF_SCENARIOS, comma-separated; default all):
 * - `onebyte`: a 1 GiB file with one byte changed (GNU tar layers A and B, as in
 *   ../shared/corpus). Store growth + index bytes, and the diff stream, against ≤ 256 KiB.
 * - `debian`: a Debian layer before and after installing one more package (wget), built from
 *   Debian package contents (`apt-get download` + `dpkg-deb -x`; needs the apt lists, so run
 *   `apt-get update` first). Growth against casync's on the same pair.
 * - `image`: flatten and extract of a multi-layer image (the Debian layer, then wget's files and
 *   a whiteout, then layer A of `onebyte` when it exists), peak RSS beside the image size;
 *   `tar -x` of each layer as the baseline.
 * - `upload`: layer A piped as a diff stream into `fetch` PUT to a server process that applies
 *   it into a store; wall time and the peak RSS of each process.
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangOf } from './shebang.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '..', 'dist', 'cli.js');
// Node processes run with the environment and V8 flags the CLI's shebang line gives it, as an
// installed `layerdiff` runs.
const shebang = shebangOf(cli);
const nodeEnv = { ...process.env, ...shebang.env };
const rssHook = join(here, 'rss.cjs');
const dir = join(process.env.LAYERDIFF_BENCH_DIR ?? '/tmp/layerdiff-bench', 'scenarios');
const wanted = (process.env.LAYERDIFF_SCENARIOS ?? 'onebyte,debian,image,upload').split(',');
mkdirSync(dir, { recursive: true });

const KiB = 1024;
const MiB = 1024 * KiB;
const has = (/** @type {string} */ tool) =>
  spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
const sh = (/** @type {string} */ cmd) =>
  execFileSync('sh', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 26 });
const fmt = (/** @type {number} */ n) => n.toLocaleString('en-US');

/** Bytes of the regular files under `path` (apparent sizes), optionally by name suffix. */
function bytesUnder(/** @type {string} */ path, suffix = '') {
  if (!existsSync(path)) return 0;
  let total = 0;
  for (const e of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith(suffix)) continue;
    total += statSync(join(e.parentPath ?? e.path, e.name)).size;
  }
  return total;
}

/**
 * Runs a command; returns wall seconds, peak RSS (MiB, node processes only) and stdout.
 * @param {string[]} args @param {{ node?: boolean, env?: Record<string, string> }} [opts]
 */
function run(args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = opts.node
    ? spawnSync(process.execPath, [...shebang.flags, '-r', rssHook, ...args], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
        env: nodeEnv,
      })
    : spawnSync(args[0] ?? 'true', args.slice(1), {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
        env: { ...process.env, ...opts.env },
      });
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const m = /@@maxrss_kib=(\d+)/.exec(r.stderr ?? '');
  return { wall, rss: m ? Number(m[1]) / 1024 : 0, stdout: r.stdout };
}

/** A GNU tar of `src`'s contents, reproducible. */
function tarDir(/** @type {string} */ src, /** @type {string} */ out) {
  sh(
    `tar --sort=name --mtime=@1700000000 --owner=0 --group=0 --numeric-owner --format=gnu -cf '${out}' -C '${src}' .`,
  );
}

/**
 * What a second layer version costs with layerdiff and its peers, in the same run.
 * @param {string} name @param {string} a @param {string} b
 */
function versionCost(name, a, b) {
  const d = join(dir, `${name}-work`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  const rows = [];
  // layerdiff: both versions into one store; growth is the on-disk chunk bytes (compressed)
  // the second one adds, plus its root.
  const store = join(d, 'store');
  run([cli, 'convert', a, '--store', store, '--out', join(d, 'a.idx')], { node: true });
  const s0 = bytesUnder(store);
  const conv = run([cli, 'convert', b, '--store', store, '--out', join(d, 'b.idx'), '--json'], {
    node: true,
  });
  const grown = bytesUnder(store) - s0;
  const root = statSync(join(d, 'b.idx')).size;
  const result = JSON.parse(conv.stdout);
  const diff = run(
    [cli, 'diff', b, '--base', join(d, 'a.idx'), '--store', store, '--out', join(d, 'b.diff')],
    { node: true },
  );
  rows.push({
    tool: 'layerdiff',
    growth: grown,
    meta: root,
    note: `data ${fmt(result.newBytes)} B raw in ${result.newChunks} chunks; index ${fmt(result.index.newIndexBytes)} B raw in ${result.index.newIndexChunks} chunks (of ${fmt(result.index.indexBytes)}); store bytes include both, compressed by the store's default codec`,
    wire: statSync(join(d, 'b.diff')).size,
    wall: conv.wall,
    rss: conv.rss,
    wireWall: diff.wall,
  });
  if (has('casync')) {
    const cs = join(d, 'casync');
    run(['casync', 'make', `--store=${cs}`, join(d, 'a.caibx'), a]);
    const c0 = bytesUnder(cs, '.cacnk');
    const m = run(['casync', 'make', `--store=${cs}`, join(d, 'b.caibx'), b]);
    rows.push({
      tool: 'casync make (zstd chunks)',
      growth: bytesUnder(cs, '.cacnk') - c0,
      meta: statSync(join(d, 'b.caibx')).size,
      note: 'growth = .cacnk bytes; index = the new .caibx',
      wire: undefined,
      wall: m.wall,
      rss: 0,
    });
  }
  if (has('restic')) {
    const repo = join(d, 'restic');
    const env = { RESTIC_PASSWORD: 'bench', RESTIC_REPOSITORY: repo };
    run(['restic', 'init', '-q'], { env });
    run(['restic', 'backup', '-q', a], { env });
    const r0 = bytesUnder(repo);
    const m = run(['restic', 'backup', '-q', b], { env });
    rows.push({
      tool: 'restic backup (repo growth, all files)',
      growth: bytesUnder(repo) - r0,
      meta: 0,
      note: 'data packs, index and snapshot together; random chunker polynomial per repo',
      wire: undefined,
      wall: m.wall,
      rss: 0,
    });
  }
  if (has('zstd')) {
    const m = run([
      'zstd',
      '-q',
      '-f',
      '-3',
      '--long=31',
      `--patch-from=${a}`,
      b,
      '-o',
      join(d, 'b.zst-patch'),
    ]);
    rows.push({
      tool: 'zstd -3 --long=31 --patch-from',
      growth: undefined,
      meta: 0,
      note: 'a patch against the whole old tar (no store; needs the old tar to apply)',
      wire: statSync(join(d, 'b.zst-patch')).size,
      wall: m.wall,
      rss: 0,
    });
  }
  console.log('');
  console.log(`### ${name}: ${a} → ${b} (${fmt(statSync(b).size)} bytes)`);
  console.log('');
  console.log('| tool | store growth B | + index B | total B | diff/patch B | wall s | notes |');
  console.log('|---|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    const total = r.growth === undefined ? undefined : r.growth + r.meta;
    console.log(
      `| ${r.tool} | ${r.growth === undefined ? '-' : fmt(r.growth)} | ${r.meta ? fmt(r.meta) : '-'} | ${total === undefined ? '-' : fmt(total)} | ${r.wire === undefined ? '-' : fmt(r.wire)} | ${r.wall.toFixed(2)} | ${r.note} |`,
    );
  }
  rmSync(d, { recursive: true, force: true });
  return rows;
}

if (wanted.includes('onebyte') || wanted.includes('upload')) {
  // The 1 GiB pair, built as ../shared/corpus does: one file of AES-CTR keystream; B differs
  // from A in exactly one byte, 512 MiB into the file.
  const a = join(dir, 'A.tar');
  const b = join(dir, 'B.tar');
  if (!existsSync(b)) {
    const src = join(dir, 'a-src');
    mkdirSync(src, { recursive: true });
    sh(
      `openssl enc -aes-256-ctr -pass pass:synthetic -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c ${1024 * MiB} > '${src}/big.bin'`,
    );
    tarDir(src, a);
    rmSync(src, { recursive: true, force: true });
    sh(`cp '${a}' '${b}.part'`);
    // Flip one byte of big.bin's body, 512 MiB in (after the `./` and `./big.bin` headers).
    const at = 1024 + 512 * MiB;
    sh(
      `python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(${at}); x=f.read(1); f.seek(${at}); f.write(bytes([x[0]^255])); f.close()" '${b}.part'`,
    );
    sh(`mv '${b}.part' '${b}'`);
  }
  if (wanted.includes('onebyte')) {
    const rows = versionCost('onebyte', a, b);
    const ld = rows[0];
    if (ld) {
      const limit = 256 * KiB;
      console.log('');
      console.log(
        `layerdiff: growth + index ${fmt(ld.growth + ld.meta)} B ${ld.growth + ld.meta <= limit ? '≤' : '>'} 256 KiB; diff stream ${fmt(ld.wire ?? 0)} B ${(ld.wire ?? 0) <= limit ? '≤' : '>'} 256 KiB`,
      );
    }
  }
  if (wanted.includes('upload')) await upload(a);
}

/** The closure of Debian packages `names` depend on (no recommends), as real package names. */
function closure(/** @type {string[]} */ names) {
  const out = sh(
    `apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends ${names.join(' ')} | grep -v '^ ' | grep -v '^<' | sort -u`,
  );
  return out.split('\n').filter((n) => /^[a-z0-9][a-z0-9+.-]+$/.test(n));
}

/** A rootfs of the contents of Debian packages (downloaded once), as a reproducible tar. */
function debianLayer(
  /** @type {string} */ name,
  /** @type {string[]} */ pkgs,
  withWhiteout = false,
) {
  const out = join(dir, `${name}.tar`);
  if (existsSync(out)) return out;
  const debs = join(dir, 'debs');
  mkdirSync(debs, { recursive: true });
  sh(
    `cd '${debs}' && apt-get download -q ${pkgs.join(' ')} >/dev/null 2>&1 || (cd '${debs}' && for p in ${pkgs.join(' ')}; do ls "$p"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >/dev/null 2>&1 || true; done)`,
  );
  const root = join(dir, `${name}-root`);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  for (const p of pkgs) {
    const deb = readdirSync(debs).find((f) => f.startsWith(`${p}_`) && f.endsWith('.deb'));
    if (deb) sh(`dpkg-deb -x '${join(debs, deb)}' '${root}'`);
  }
  if (withWhiteout) {
    // An upper layer that also deletes something below it.
    mkdirSync(join(root, 'usr/share'), { recursive: true });
    writeFileSync(join(root, 'usr/share/.wh.doc'), '');
  }
  tarDir(root, out);
  rmSync(root, { recursive: true, force: true });
  return out;
}

let debianBase = '';
let debianUpper = '';
if (wanted.includes('debian') || wanted.includes('image')) {
  if (!has('apt-get') || !has('dpkg-deb')) {
    console.log('\n(debian and image scenarios skipped: apt-get and dpkg-deb are needed)');
  } else {
    const before = closure(['ca-certificates', 'curl']);
    const after = closure(['ca-certificates', 'curl', 'wget']);
    if (before.length < 10 || after.length <= before.length) {
      throw new Error('apt knows no packages here: run `apt-get update` (as root) first');
    }
    debianBase = debianLayer('debian-curl', before);
    const added = after.filter((p) => !before.includes(p));
    console.log(`\nDebian layers: ${before.length} packages, then + ${added.join(' ')}`);
    if (wanted.includes('debian')) {
      const b = debianLayer('debian-curl-wget', after);
      const rows = versionCost('debian', debianBase, b);
      const ld = rows.find((r) => r.tool === 'layerdiff');
      const cs = rows.find((r) => r.tool.startsWith('casync'));
      if (ld && cs && cs.growth !== undefined) {
        console.log('');
        console.log(
          `layerdiff growth ${fmt(ld.growth)} B (+ root ${fmt(ld.meta)}) vs casync ${fmt(cs.growth)} B (+ caibx ${fmt(cs.meta)}): ${ld.growth + ld.meta <= cs.growth ? 'no more than casync, index included' : ld.growth <= cs.growth ? 'no more than casync, chunks only' : 'MORE than casync'}`,
        );
      }
    }
    debianUpper = debianLayer('debian-wget-upper', added, true);
  }
}

if (wanted.includes('image') && debianBase && debianUpper) {
  const d = join(dir, 'image-work');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  const store = join(d, 'store');
  run([cli, 'convert', debianBase, '--store', store, '--out', join(d, '1.idx')], { node: true });
  run([cli, 'convert', debianUpper, '--store', store, '--out', join(d, '2.idx')], { node: true });
  // A third layer of 1 GiB (the onebyte scenario's A.tar), when it exists, so that memory can
  // be seen not to follow the image size.
  const big = join(dir, 'A.tar');
  const layers = [debianBase, debianUpper, ...(existsSync(big) ? [big] : [])];
  if (layers.length > 2) {
    run([cli, 'convert', big, '--store', store, '--out', join(d, '3.idx')], { node: true });
  }
  const idx = layers.map((_, i) => join(d, `${i + 1}.idx`));
  const size = layers.reduce((n, l) => n + statSync(l).size, 0);
  // The converts just wrote the store (over 1 GiB with A.tar): flushed first, so that its
  // writeback does not run during the timed commands.
  sh('sync');
  const flat = run([cli, 'flatten', ...idx, '--store', store, '--out', join(d, 'flat.tar')], {
    node: true,
  });
  sh('sync');
  const ext = run([cli, 'extract', ...idx, '--store', store, '--dir', join(d, 'tree')], {
    node: true,
  });
  sh('sync');
  mkdirSync(join(d, 'ref'));
  const t = process.hrtime.bigint();
  for (const l of layers) sh(`tar -xf '${l}' -C '${d}/ref'`);
  const tarWall = Number(process.hrtime.bigint() - t) / 1e9;
  console.log('');
  console.log(`### image: ${layers.length} layers, ${fmt(size)} bytes of tar`);
  console.log('');
  console.log('| operation | wall s | peak RSS MiB | RSS / image size |');
  console.log('|---|---:|---:|---:|');
  console.log(
    `| tar -xf each layer (baseline; whiteouts not applied) | ${tarWall.toFixed(2)} | - | - |`,
  );
  for (const [name, r] of /** @type {const} */ ([
    ['layerdiff flatten → one tar', flat],
    ['layerdiff extract → directory', ext],
  ])) {
    console.log(
      `| ${name} | ${r.wall.toFixed(2)} | ${r.rss.toFixed(0)} | ${((r.rss * MiB) / size).toFixed(2)} |`,
    );
  }
  rmSync(d, { recursive: true, force: true });
}

/** The upload scenario: a diff of `layer` into fetch PUT, applied by a server process. */
async function upload(/** @type {string} */ layer) {
  const d = join(dir, 'upload-work');
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  const port = 18000 + Math.floor(Math.random() * 1000);
  const server = spawn(
    process.execPath,
    [
      ...shebang.flags,
      '-r',
      rssHook,
      join(here, 'upload-server.mjs'),
      String(port),
      join(d, 'store'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: nodeEnv },
  );
  let serverErr = '';
  server.stderr.on('data', (b) => {
    serverErr += b;
  });
  sh('sleep 0.5');
  const client = run(
    [join(here, 'upload-client.mjs'), layer, `http://127.0.0.1:${port}/layers/bench`],
    {
      node: true,
    },
  );
  const exited = new Promise((resolve) => server.on('exit', resolve));
  server.kill('SIGTERM');
  await exited;
  const m = /@@maxrss_kib=(\d+)/.exec(serverErr);
  console.log('');
  console.log(
    `### upload: ${fmt(statSync(layer).size)} bytes, diff stream into fetch PUT, applied by a server process`,
  );
  console.log('');
  console.log('| side | wall s | peak RSS MiB |');
  console.log('|---|---:|---:|');
  console.log(
    `| client (createDiff → fetch) | ${client.wall.toFixed(2)} | ${client.rss.toFixed(0)} |`,
  );
  console.log(
    `| server (request → applyDiff → PackStore) | - | ${m ? (Number(m[1]) / 1024).toFixed(0) : '?'} |`,
  );
  console.log(`client: ${client.stdout.trim()}`);
  rmSync(d, { recursive: true, force: true });
}
