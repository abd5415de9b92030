// @ts-check
/**
 * `npm run bench`: converts and reassembles a generated layer of at least 1 GiB with the CLI and
 * a filesystem store, beside `openssl dgst -sha256`, `gzip -dc` and `zstd -dc` on the same
 * files, measured in the same run; then a layer of 60,000 small files (about 300 MB), where the work per entry
 * and any memory that grows with the entry count show. Prints wall time, throughput, peak RSS
 * and the ratio to the baseline.
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench; the layer is kept there
 * between runs), LAYERDIFF_BENCH_MIB (default 1100), LAYERDIFF_BENCH_REPS (default 3; the
 * median is reported).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { benchLayer, makeSmallFilesLayer } from './make-layer.mjs';
import { cli, dir, here, reps, rssHook, shebang } from './setup.mjs';

// Run the CLI with the environment and V8 flags its shebang line gives it, as an installed
// `layerdiff` runs.
const sizeMiB = Number(process.env.LAYERDIFF_BENCH_MIB ?? 1100);

execFileSync('mkdir', ['-p', dir]);
const tar = await benchLayer(dir, sizeMiB);
const gz = `${tar}.gz`;
const zst = `${tar}.zst`;
if (!existsSync(gz)) {
  console.error(`compressing ${gz} (gzip -1) ...`);
  execFileSync('sh', ['-c', `gzip -1 -n -c '${tar}' > '${gz}.part' && mv '${gz}.part' '${gz}'`]);
}
if (!existsSync(zst)) {
  console.error(`compressing ${zst} (zstd -1) ...`);
  execFileSync('zstd', ['-q', '-1', '-f', tar, '-o', `${zst}.part`]);
  execFileSync('mv', [`${zst}.part`, zst]);
}
const tarBytes = statSync(tar).size;
const smallFiles = 60_000;
const small = join(dir, `small-${smallFiles}.tar`);
if (!existsSync(small)) {
  console.error(`generating ${small} ...`);
  await makeSmallFilesLayer(`${small}.part`, smallFiles);
  execFileSync('mv', [`${small}.part`, small]);
}
const smallBytes = statSync(small).size;

/**
 * Runs a command `reps` times; returns the median wall seconds and the largest peak RSS (MiB).
 * With `baseline`, the baseline command runs right before each run, and `ratio` is the median
 * of the per-run ratios: this VM's speed drifts by 10-25% within minutes, and a baseline timed
 * minutes apart from the run it is compared with would carry that drift into the ratio.
 * @param {string} cmd @param {string[]} args
 * @param {{ node?: boolean, before?: () => void, baseline?: [string, string[]] }} [opts]
 */
function measure(cmd, args, opts = {}) {
  /** @type {Array<{ wall: number, cpu?: number, main?: number }>} */
  const runs = [];
  /** @type {number[]} */
  const ratios = [];
  let rss = 0;
  for (let i = 0; i < reps; i++) {
    const base = opts.baseline ? measureOnce(...opts.baseline) : undefined;
    opts.before?.();
    const full = opts.node ? [...shebang.flags, '-r', rssHook, ...args] : args;
    const t = process.hrtime.bigint();
    const r = spawnSync(opts.node ? process.execPath : cmd, full, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: opts.node ? { ...process.env, ...shebang.env } : process.env,
      maxBuffer: 1 << 24,
    });
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
    const err = r.stderr.toString();
    const m = /@@maxrss_kib=(\d+)/.exec(err);
    if (m) rss = Math.max(rss, Number(m[1]) / 1024);
    const cpu = /@@cpu_s=([\d.]+) @@main_cpu_s=([\d.-]+)/.exec(err);
    runs.push(cpu ? { wall, cpu: Number(cpu[1]), main: Number(cpu[2]) } : { wall });
    if (base) ratios.push(wall / base);
  }
  runs.sort((a, b) => a.wall - b.wall);
  ratios.sort((a, b) => a - b);
  // Wall time and CPU times of the median run.
  const median = runs[Math.floor(runs.length / 2)] ?? { wall: 0 };
  return { ...median, rss, ratio: ratios[Math.floor(ratios.length / 2)] };
}

/**
 * Runs a baseline command once.
 * @param {string} cmd @param {string[]} args
 * @returns {number} its wall seconds.
 */
function measureOnce(cmd, args) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const store = join(dir, 'store');
const index = join(dir, 'layer.idx');
/**
 * Empties a directory and writes back every dirty page first: a run that writes a fresh store
 * must not be throttled by the writeback of the previous run's gigabyte.
 * @param {string} path
 */
const emptied = (path) => {
  rmSync(path, { recursive: true, force: true });
  execFileSync('sync');
};
const fresh = () => emptied(store);
/** Bytes under a directory (apparent sizes): what a conversion left in the store. */
const bytesUnder = (/** @type {string} */ d) =>
  Number(execFileSync('du', ['-sb', '--apparent-size', d], { encoding: 'utf8' }).split('\t')[0]);
/**
 * Measures a conversion into a fresh default store and notes the store's size after it.
 * @param {string} input
 * @param {string[]} extra - options after the store (the codec).
 * @param {[string, string[]]} baseline
 * @param {string} out - the index.
 */
function measureConvert(input, extra, baseline, out) {
  const m = measure('node', [cli, 'convert', input, '--store', store, ...extra, '--out', out], {
    node: true,
    before: fresh,
    baseline,
  });
  return { ...m, stored: bytesUnder(store) };
}

const hasTool = (/** @type {string} */ t) =>
  spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
/** @type {[string, string[]]} */
const sslTar = ['openssl', ['dgst', '-sha256', tar]];
/** @type {[string, string[]]} */
const sslSmall = ['openssl', ['dgst', '-sha256', small]];
/** @type {[string, string[]]} */
const gunzipGz = ['sh', ['-c', `gzip -dc '${gz}' > /dev/null`]];
/** @type {[string, string[]]} */
const unzstd = ['sh', ['-c', `zstd -dc '${zst}' > /dev/null`]];
const openssl = measure(...sslTar);
// The cost of writing the layer's bytes to this filesystem at all: the floor under any
// conversion into a fresh on-disk store.
const copy = join(dir, 'copy.tmp');
// dd, not cat: GNU cat may use copy_file_range, which is not a write through the page cache.
/** @type {[string, string[]]} */
const writeCopy = ['sh', ['-c', `dd if='${tar}' of='${copy}' bs=64K status=none && rm '${copy}'`]];
const writeFloor = measure(...writeCopy, {
  before: () => execFileSync('sync'),
  baseline: sslTar,
});
// What fresh page-cache pages cost here. A VM whose balloon device reports free pages
// (VIRTIO_BALLOON_F_REPORTING; Linux's page_reporting, 2 s after memory is freed) hands the
// host the guest's free memory; the guest's next use of it faults on the host, which costs
// several times what writing into pages freed a moment ago costs. The two rows below write
// the tar after 5 s idle and right after freeing as much: their gap is the machine's, not
// layerdiff's, and a run that writes a fresh store pays up to it.
const scratch = join(dir, 'warm.tmp');
/** Frees 2.5 GB of page-cache pages just now, so that the next writes take backed pages. */
const warmPages = () => {
  execFileSync('sh', [
    '-c',
    `dd if=/dev/zero of='${scratch}' bs=1M count=2500 status=none && rm '${scratch}'`,
  ]);
};
/** Whether this kernel reports free pages to a host (Linux's page_reporting is loaded). */
const reporting = existsSync('/sys/module/page_reporting/parameters/reported_kib');
const writeCold = measure(...writeCopy, {
  before: () => {
    execFileSync('sync');
    execFileSync('sleep', ['5']);
  },
});
const writeWarm = measure(...writeCopy, {
  before: () => {
    execFileSync('sync');
    warmPages();
  },
});
const casyncStore = join(dir, 'casync');
const casync = hasTool('casync')
  ? measure('casync', ['make', `--store=${casyncStore}`, join(dir, 'layer.caibx'), tar], {
      before: () => emptied(casyncStore),
      baseline: sslTar,
    })
  : undefined;
const gunzip = measure(...gunzipGz);
const zstdBase = measure(...unzstd);
const convertFresh = measureConvert(tar, [], sslTar, index);
const convertDeflate = measureConvert(tar, ['--codec', 'deflate'], sslTar, index);
const convertRaw = measureConvert(tar, ['--codec', 'none'], sslTar, index);
// The same per-byte work with none of the pipeline around it (see floor.mjs).
const floor = measure('node', [join(here, 'floor.mjs'), tar, store], {
  node: true,
  before: fresh,
  baseline: sslTar,
});
const looseArgs = ['--store', `${store}-loose`, '--store-layout', 'loose'];
const convertLoose = measure('node', [cli, 'convert', tar, ...looseArgs, '--out', index], {
  node: true,
  before: () => emptied(`${store}-loose`),
  baseline: sslTar,
});
rmSync(`${store}-loose`, { recursive: true, force: true });
// Many small files: the work per entry, and memory that would grow with the entry count.
const smallIndex = join(dir, 'small.idx');
const smallOpenssl = measure(...sslSmall);
const smallDeflate = measureConvert(small, ['--codec', 'deflate'], sslSmall, smallIndex);
const smallRaw = measureConvert(small, ['--codec', 'none'], sslSmall, smallIndex);
// Last, so that cat reads the default store.
const smallConvert = measureConvert(small, [], sslSmall, smallIndex);
const smallCat = measure('node', [cli, 'cat', smallIndex, '--store', store, '--out', '/dev/null'], {
  node: true,
  baseline: sslSmall,
});

// What follows runs against the default store, converted last with the default options.
fresh();
execFileSync(process.execPath, [cli, 'convert', tar, '--store', store, '--out', index]);
const convertAgain = measure('node', [cli, 'convert', tar, '--store', store, '--out', index], {
  node: true,
  baseline: sslTar,
});
const cat = measure('node', [cli, 'cat', index, '--store', store, '--out', '/dev/null'], {
  node: true,
  baseline: sslTar,
});
const convertGz = measure('node', [cli, 'convert', gz, '--store', store, '--out', index], {
  node: true,
  before: fresh,
  baseline: gunzipGz,
});
// zstd input: decoded by our WebAssembly block decoder, every frame's checksum verified.
const convertZst = measure('node', [cli, 'convert', zst, '--store', store, '--out', index], {
  node: true,
  before: fresh,
  baseline: unzstd,
});

const rows = [
  ['openssl dgst -sha256 (baseline)', openssl, tarBytes, openssl.wall],
  [
    'write the tar to this filesystem (floor for a fresh store)',
    writeFloor,
    tarBytes,
    openssl.wall,
  ],
  ['write the tar after 5 s idle', writeCold, tarBytes, openssl.wall],
  ['write the tar, pages freed just before', writeWarm, tarBytes, openssl.wall],
  [
    'layerdiff convert tar, empty store (packs, LZ4: the default)',
    convertFresh,
    tarBytes,
    openssl.wall,
  ],
  [
    'layerdiff convert tar, empty store, --codec deflate (level 1)',
    convertDeflate,
    tarBytes,
    openssl.wall,
  ],
  ['layerdiff convert tar, empty store, --codec none', convertRaw, tarBytes, openssl.wall],
  [
    'its per-byte work alone, no pipeline (floor.mjs: read, CDC, SHA-256 x2, pack writes)',
    floor,
    tarBytes,
    openssl.wall,
  ],
  [
    'layerdiff convert tar, empty store, a file per chunk (--store-layout loose)',
    convertLoose,
    tarBytes,
    openssl.wall,
  ],
  ['layerdiff convert tar, chunks present', convertAgain, tarBytes, openssl.wall],
  ['layerdiff cat (verify + rebuild)', cat, tarBytes, openssl.wall],
  ...(casync ? [['casync make, empty store (for scale)', casync, tarBytes, openssl.wall]] : []),
  ['gzip -dc (baseline)', gunzip, tarBytes, gunzip.wall],
  ['layerdiff convert tar.gz, empty store', convertGz, tarBytes, gunzip.wall],
  ['zstd -dc (baseline)', zstdBase, tarBytes, zstdBase.wall],
  ['layerdiff convert tar.zst, empty store', convertZst, tarBytes, zstdBase.wall],
  [
    `openssl dgst -sha256, ${smallFiles.toLocaleString()} small files (baseline)`,
    smallOpenssl,
    smallBytes,
    smallOpenssl.wall,
  ],
  ['layerdiff convert small files, empty store (LZ4)', smallConvert, smallBytes, smallOpenssl.wall],
  [
    'layerdiff convert small files, empty store, --codec deflate',
    smallDeflate,
    smallBytes,
    smallOpenssl.wall,
  ],
  [
    'layerdiff convert small files, empty store, --codec none',
    smallRaw,
    smallBytes,
    smallOpenssl.wall,
  ],
  ['layerdiff cat small files', smallCat, smallBytes, smallOpenssl.wall],
];
const cpu = cpus()[0]?.model ?? 'unknown cpu';
console.log(
  `machine: ${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
);
console.log(
  `layer: ${tar} (${tarBytes.toLocaleString()} bytes; gz ${statSync(gz).size.toLocaleString()}; zst ${statSync(zst).size.toLocaleString()}), median of ${reps}`,
);
console.log(`small files: ${small} (${smallBytes.toLocaleString()} bytes)`);
console.log('');
console.log(
  '| operation | wall s | MB/s | peak RSS MiB | CPU s: all threads / main | ratio to baseline | store MB |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [name, m, bytes, base] of rows) {
  const r =
    /** @type {{wall:number, rss:number, cpu?:number, main?:number, ratio?:number, stored?:number}} */ (
      m
    );
  const stored = r.stored === undefined ? '-' : (r.stored / 1e6).toFixed(1);
  const cpu = r.cpu === undefined ? '-' : `${r.cpu.toFixed(2)} / ${r.main?.toFixed(2)}`;
  const ratio = r.ratio ?? r.wall / Number(base);
  console.log(
    `| ${name} | ${r.wall.toFixed(2)} | ${(Number(bytes) / 1e6 / r.wall).toFixed(0)} | ${r.rss ? r.rss.toFixed(0) : '-'} | ${cpu} | ${ratio.toFixed(2)}x | ${stored} |`,
  );
}
console.log('');
console.log(
  `CPU s is user + system time of the median run. With ${cpus().length} cores, a run cannot take less wall time than its CPU time / ${cpus().length}.`,
);
console.log(
  `Writing ${(tarBytes / 2 ** 30).toFixed(2)} GiB took ${writeCold.wall.toFixed(2)} s after 5 s idle and ${writeWarm.wall.toFixed(2)} s into pages freed just before${reporting ? ' (this kernel reports free pages to its host)' : ''}: a run that writes a fresh store pays up to the difference.`,
);
console.log(
  'Each ratio is the median of per-run ratios: the baseline runs again right before each run it is compared with (the baseline rows show its own separate runs).',
);
const idxBytes = readFileSync(index).length;
const flatBytes = JSON.parse(
  execFileSync(process.execPath, [cli, 'inspect', index, '--json'], { encoding: 'utf8' }),
).index.bytes;
const storeBytes = bytesUnder(store);
console.log('');
console.log(
  `index: root ${idxBytes.toLocaleString()} bytes (flat index ${flatBytes.toLocaleString()} bytes, kept as chunks in the store) for ${tarBytes.toLocaleString()} bytes of tar`,
);
console.log(
  `store after converting the tar.zst: ${storeBytes.toLocaleString()} bytes on disk (chunks LZ4-compressed where that pays)`,
);
