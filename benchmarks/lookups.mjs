// @ts-check
/**
 * `npm run bench:lookups`: what a pack store of many packs costs a lookup of a chunk it lacks
 * (most lookups of a conversion), and what opening it costs. Stores of 8 to 1,024 packs of
 * 4,096 random entries each (sparse pack files, built once under LAYERDIFF_BENCH_DIR), opened
 * with blocking reads as the CLI opens them, and without (the library's default); `has()` of
 * 20,000 random digests, each store opened in a process of its own. Ratios are to the 8-pack
 * store, measured in the same run.
 *
 * Environment: LAYERDIFF_BENCH_DIR (default /tmp/layerdiff-bench), LAYERDIFF_LOOKUP_PACKS
 * (default 8,64,256,1024).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatDigest, PACK_MAGIC, PackIndexBuilder, RECORD_HEADER_BYTES } from '../dist/index.js';
import { PACKS_DIR, PackStore } from '../dist/node.js';

const ENTRIES = 4096;
const LOOKUPS = 20_000;
const CHUNK = 64 * 1024;

if (process.argv[2] === '--one') {
  // One store, in this process: open it, then look up absent digests.
  const [root, blocking] = [process.argv[3] ?? '', process.argv[4] === 'blocking'];
  let t = performance.now();
  const store = await PackStore.open(root, { blocking });
  const open = performance.now() - t;
  const digests = Array.from({ length: LOOKUPS }, () => formatDigest(randomBytes(32)));
  t = performance.now();
  let found = 0;
  for (const d of digests) if (await store.has(d)) found++;
  const miss = ((performance.now() - t) * 1000) / LOOKUPS;
  await store.close();
  process.stdout.write(JSON.stringify({ open, miss, found }));
  process.exit(0);
}

/** A store of `packs` packs of {@link ENTRIES} random chunk records, the packs sparse. */
function makeStore(root, packs) {
  if (existsSync(root)) return;
  const tmp = `${root}.tmp`;
  mkdirSync(join(tmp, PACKS_DIR), { recursive: true });
  for (let p = 0; p < packs; p++) {
    const index = new PackIndexBuilder();
    let at = PACK_MAGIC.length;
    for (let i = 0; i < ENTRIES; i++) {
      index.add({
        digest: randomBytes(32),
        offset: at,
        coding: 'identity',
        stored: CHUNK,
        raw: CHUNK,
      });
      at += RECORD_HEADER_BYTES + CHUNK;
    }
    const name = `${p.toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
    const pack = join(tmp, PACKS_DIR, `${name}.pack`);
    writeFileSync(pack, PACK_MAGIC);
    truncateSync(pack, at);
    writeFileSync(join(tmp, PACKS_DIR, `${name}.idx`), index.encode(at));
  }
  renameSync(tmp, root);
}

const dir = process.env.LAYERDIFF_BENCH_DIR ?? '/tmp/layerdiff-bench';
const counts = (process.env.LAYERDIFF_LOOKUP_PACKS ?? '8,64,256,1024').split(',').map(Number);
const self = fileURLToPath(import.meta.url);
const rows = [];
for (const packs of counts) {
  const root = join(dir, `lookups-${packs}x${ENTRIES}`);
  makeStore(root, packs);
  for (const mode of ['blocking', 'thread pool']) {
    const out = execFileSync(
      process.execPath,
      [self, '--one', root, mode === 'blocking' ? 'blocking' : ''],
      {
        encoding: 'utf8',
      },
    );
    rows.push({ packs, mode, ...JSON.parse(out) });
  }
}
const base = (mode) => rows.find((r) => r.mode === mode && r.packs === counts[0]);
console.log(`stores of packs of ${ENTRIES} random entries; ${LOOKUPS} has() of random digests\n`);
console.log('| packs | reads | open s | µs a miss | ratio to the first row of its reads |');
console.log('|---:|---|---:|---:|---:|');
for (const r of rows) {
  const ratio = r.miss / base(r.mode).miss;
  console.log(
    `| ${r.packs} | ${r.mode} | ${(r.open / 1000).toFixed(2)} | ${r.miss.toFixed(1)} | ${ratio.toFixed(1)}x |`,
  );
}
if (rows.some((r) => r.found > 0)) console.log('\n(some random digests were found: a bug)');
