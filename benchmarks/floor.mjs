// @ts-check
/**
 * `node benchmarks/floor.mjs <layer.tar> <store-dir>`: the per-byte work of converting a tar
 * into an empty pack store, with none of the pipeline around it. It reads the tar in 64 KiB
 * pieces with blocking reads, hashes it whole (the diff_id) on the hashing worker, cuts it
 * with the WebAssembly CDC kernel, copies each chunk into a reused buffer, digests it on the
 * hashing worker (up to 8 at once) and puts it into a `PackStore` without compression, as
 * `layerdiff convert --codec none` does.
 *
 * What it leaves out: streams, the tar tokenizer, records and the index. It cuts the tar as
 * one stream, where convert restarts at each entry's body, so its chunks differ a little
 * (same bytes, about 8% fewer chunks on the benchmark layer). `run.mjs` measures it beside
 * convert: the gap between the two is what the pipeline's machinery costs.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { DEFAULT_CHUNKER_PARAMS, formatDigest, loadCdcKernel } from '../dist/index.js';
import { nodeHashProvider, openStore } from '../dist/node.js';

const [path, storeDir] = process.argv.slice(2);
if (!path || !storeDir) throw new Error('usage: floor.mjs <layer.tar> <store-dir>');
const READ = 64 * 1024;
const IN_FLIGHT = 8;

const params = { ...DEFAULT_CHUNKER_PARAMS };
const kernel = await loadCdcKernel();
const hash = nodeHashProvider();
const diffId = await hash.create();
const store = await openStore(storeDir, { blocking: true, codec: false });

/** @type {Uint8Array[]} */
const reads = [];
/** @type {ArrayBuffer[]} */
const chunkBuffers = [];
/** @type {Promise<void>[]} */
const inFlight = [];
let chunks = 0;

/** Digests a chunk on the worker, then stores it; waits while `IN_FLIGHT` chunks are out. */
async function emit(/** @type {Uint8Array} */ bytes) {
  const done = hash.digest(bytes).then(async (d) => {
    await store.put(formatDigest(d), bytes);
    chunkBuffers.push(/** @type {ArrayBuffer} */ (bytes.buffer));
    chunks++;
  });
  inFlight.push(done);
  if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
}

/** @type {Uint8Array | undefined} */
let open;
let filled = 0;
/** @param {Uint8Array} bytes */
const append = (bytes) => {
  open ??= new Uint8Array(chunkBuffers.pop() ?? new ArrayBuffer(params.max));
  open.set(bytes, filled);
  filled += bytes.length;
};
const take = () => {
  const chunk = /** @type {Uint8Array} */ (open).subarray(0, filled);
  open = undefined;
  filled = 0;
  return chunk;
};

const fd = openSync(path, 'r');
let state = { pos: 0, hash: 0 };
/** @type {number[]} */
const cuts = [];
for (let n = 0; ; n++) {
  // Let the worker's answers in now and then, as the CLI's blocking reads do.
  if (n % 16 === 15) await setImmediate();
  const buf = reads.pop() ?? new Uint8Array(READ);
  const got = readSync(fd, buf, 0, buf.length, null);
  if (got === 0) break;
  const piece = got === buf.length ? buf : buf.subarray(0, got);
  await diffId.update(piece);
  cuts.length = 0;
  state = kernel.findCuts(params, state, piece, cuts);
  let start = 0;
  for (const c of cuts) {
    append(piece.subarray(start, c));
    await emit(take());
    start = c;
  }
  if (start < piece.length) append(piece.subarray(start));
  reads.push(buf);
}
closeSync(fd);
if (filled) await emit(take());
await Promise.all(inFlight);
await store.flush();
await store.close();
console.log(`${formatDigest(await diffId.digest())} ${chunks} chunks`);
