/**
 * SHA-256 for Node, arranged to use both cores: hashing (chunk digests and a layer's diff_id)
 * runs on one worker thread, fed with copies of the bytes in recycled buffers, so the main
 * thread is left with reading, cutting chunks and moving streams. Digests of chunks under
 * 64 KiB are the exception: they cost less on the calling thread than a trip to the worker.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { readHead } from '../bytes-stream.js';
import { detectCompression, SNIFF_BYTES } from '../compress/detect.js';
import { LayerdiffError } from '../errors.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { copyIntoSpare } from './spare-buffers.js';

/** The hashing worker thread died; the hashes it held are lost. */
export class HashWorkerError extends LayerdiffError {
  constructor(cause: unknown) {
    super('ERR_HASH_WORKER', `the hashing worker thread failed (${String(cause)})`, { cause });
  }
}

/** Options of {@link nodeHashProvider}. */
export interface NodeHashOptions {
  /**
   * Hash on a worker thread (except whole-chunk digests under 64 KiB). Off, hashing runs on
   * the calling thread.
   * @default true
   */
  worker?: boolean;
}

/** Bytes gathered before a copy is posted to the worker. */
const BATCH_BYTES = 256 * 1024;
/** Bytes of an incremental hash posted but not yet hashed before `update` waits. */
const MAX_IN_FLIGHT = 1024 * 1024;
/** Spare copy buffers kept for reuse. */
const MAX_SPARES = 16;
/**
 * Whole-chunk digests of fewer bytes are computed on the calling thread: a round trip to the
 * worker (a copy, a message each way, often waking the worker) costs more than hashing 64 KiB
 * here. Layers of small files are mostly such chunks: 20,000 files of 1 to 8 KiB converted in
 * 1.23–1.35 s instead of 1.54–1.68 s (two runs each).
 */
const SMALL_DIGEST_BYTES = 64 * 1024;

// An ES module, loaded from a data: URL: always a module, whatever the parent process was
// told (eval'd code follows the parent's `--input-type`). Messages are `[id, bytes, once]`:
// - `[id, bytes, true]`: hash `bytes` alone; answered `[id, digest, buffer]`.
// - `[id, bytes]`: add `bytes` to hash `id`; answered `[id, n, buffer]`.
// - `[id, null]`: finish hash `id`; answered `[id, digest]`.  `[id, undefined]`: drop it.
// Every buffer is handed back for reuse, so no copy becomes garbage that the worker, which
// allocates almost nothing, would be slow to collect.
const WORKER_SOURCE = `
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
const hashes = new Map();
parentPort.on('message', ([id, m, once]) => {
  if (once) {
    const d = createHash('sha256').update(m).digest();
    parentPort.postMessage([id, d, m.buffer], [m.buffer]);
    return;
  }
  if (m === undefined) { hashes.delete(id); return; }
  let h = hashes.get(id);
  if (!h) hashes.set(id, (h = createHash('sha256')));
  if (m === null) { hashes.delete(id); parentPort.postMessage([id, h.digest()]); }
  else { h.update(m); parentPort.postMessage([id, m.byteLength, m.buffer], [m.buffer]); }
});`;

/** What the main thread does with the worker's answers for one id. */
interface Pending {
  onAck?(n: number): void;
  onDigest(d: Uint8Array | undefined): void;
}

interface SharedWorker {
  worker: Worker;
  /** Set when the worker died: every wait on it fails at once from then on. */
  dead?: unknown;
  pending: Map<number, Pending>;
  nextId: number;
  waiters: number;
  spares: ArrayBuffer[];
}

/**
 * One lazily started worker thread shared by every hash. It keeps the process alive only
 * while someone awaits it (`waiters`), so an abandoned hash never blocks process exit.
 */
let shared: SharedWorker | undefined;
/** Drops an incremental hash in its worker when the caller abandons it (never calls digest). */
const abandoned = new FinalizationRegistry<{ w: SharedWorker; id: number }>(({ w, id }) => {
  w.pending.delete(id);
  if (!w.dead) w.worker.postMessage([id, undefined]);
});

function hashWorker(): SharedWorker {
  if (shared) return shared;
  // A small heap: the worker holds nothing but the buffers it is handed.
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`), {
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
  });
  const w: SharedWorker = {
    worker,
    pending: new Map(),
    nextId: 1,
    waiters: 0,
    spares: [],
  };
  worker.on('message', ([id, m, buffer]: [number, number | Uint8Array, ArrayBuffer?]) => {
    if (buffer && w.spares.length < MAX_SPARES) w.spares.push(buffer);
    const p = w.pending.get(id);
    if (typeof m === 'number') p?.onAck?.(m);
    else p?.onDigest(new Uint8Array(m));
  });
  const die = (err: unknown) => {
    // A dead worker fails every pending and later wait; the next hash starts a new worker.
    w.dead = err;
    if (shared === w) shared = undefined;
    for (const p of w.pending.values()) p.onDigest(undefined);
    w.pending.clear();
  };
  worker.on('error', die);
  worker.on('exit', (code) => die(new Error(`exited with code ${code}`)));
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  shared = w;
  return w;
}

/**
 * Starts the shared hashing worker thread now, if it is not running, so that its start-up
 * (about 40 ms) overlaps the caller's own: the command line calls it before it loads a
 * command. The thread does not keep the process alive.
 */
export function startHashWorker(): void {
  hashWorker();
}

/**
 * Stops the shared hashing worker thread, if it runs and no hash is using it (an incremental
 * hash uses it until its digest), and frees its memory (about 10 MiB): for a process that is
 * done with the worker, or that started it early (as the command line does) and then chose to
 * hash on its own thread ({@link nodeHashOptionsFor}). A later hash with the worker starts a
 * new one.
 */
export function stopHashWorker(): void {
  const w = shared;
  if (!w || w.pending.size > 0) return;
  shared = undefined;
  void w.worker.terminate();
}

/**
 * Where to hash a layer, told by its first bytes: on the calling thread when it is zstd, else
 * with the worker. A zstd layer's decoder runs on the calling thread and holds its window for
 * the whole conversion, and the worker costs about 10 MiB (its own V8 heap; the copies it is
 * sent, about 2 more): with both, conversions of large trees reached or passed 96 MiB. `/usr`
 * and `/opt` (15.64 GB) as `zstd -1`, a 512 KiB window, peaked at 98,308 KB with the worker, as
 * `zstd -3` at 99,336–99,800 KB (as a plain tar 95,112 KB, as gzip 92,588 KB). The cost is
 * speed where hashing is most of the work: a layer of large random files as zstd converted
 * about a third slower (docs/PERFORMANCE.md, Peak RSS).
 * @param head - the layer's first bytes (`SNIFF_BYTES` of them, as `detectCompression` wants).
 * @returns options for {@link nodeHashProvider}.
 * {@link layerHashing} reads the head and applies this.
 */
export function nodeHashOptionsFor(head: Uint8Array): NodeHashOptions {
  return { worker: detectCompression(head) !== 'zstd' };
}

/**
 * The hashing for a layer, chosen by its first bytes ({@link nodeHashOptionsFor}); when that is
 * the calling thread, the shared worker is stopped if nothing uses it ({@link stopHashWorker}),
 * so that its memory is not held beside the decoder's.
 * @param layer - the layer blob (locked from now on).
 * @returns the layer from its first byte again, and the provider.
 * @example
 * ```ts
 * const { layer, hash } = await layerHashing(blob);
 * const { index, done } = convert(layer, { store, hash });
 * ```
 */
export async function layerHashing(
  layer: ReadableStream<Uint8Array>,
): Promise<{ layer: ReadableStream<Uint8Array>; hash: HashProvider }> {
  const { head, whole } = await readHead(layer, SNIFF_BYTES);
  const options = nodeHashOptionsFor(head);
  if (!options.worker) stopHashWorker();
  return { layer: whole, hash: nodeHashProvider(options) };
}

/** Waits for a worker answer, keeping the process alive meanwhile. */
async function awaitWorker<T>(w: SharedWorker, wait: Promise<T>): Promise<T> {
  if (w.dead) failed(w);
  if (w.waiters++ === 0) w.worker.ref();
  try {
    return await wait;
  } finally {
    if (--w.waiters === 0) w.worker.unref();
  }
}

function failed(w: SharedWorker): never {
  throw new HashWorkerError(w.dead);
}

async function workerDigest(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.length < SMALL_DIGEST_BYTES) return createHash('sha256').update(bytes).digest();
  const w = hashWorker();
  const id = w.nextId++;
  const copy = copyIntoSpare(w.spares, bytes);
  const digest = await awaitWorker(
    w,
    new Promise<Uint8Array | undefined>((resolve) => {
      w.pending.set(id, { onDigest: resolve });
      w.worker.postMessage([id, copy, true], [copy.buffer as ArrayBuffer]);
    }),
  );
  w.pending.delete(id);
  return digest ?? failed(w);
}

function workerHash(): IncrementalHash {
  const w = hashWorker();
  const id = w.nextId++;
  // What unregisters the hash from `abandoned`: not the hash itself, which these closures
  // would then hold (they share one context with `onAck`, which `w.pending` holds), so that an
  // abandoned hash was never collected and kept its batch buffer (256 KiB) for good.
  const token = {};
  let batch = copyIntoSpare(w.spares, new Uint8Array(0), BATCH_BYTES);
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let finished: ((d: Uint8Array | undefined) => void) | undefined;
  w.pending.set(id, {
    onAck(n) {
      inFlight -= n;
      if (drained && inFlight <= MAX_IN_FLIGHT / 2) {
        const d = drained;
        drained = undefined;
        d();
      }
    },
    onDigest(d) {
      finished?.(d);
      drained?.();
    },
  });

  /** Posts the batch (if any); the promise, when there is one, waits for the worker to catch up. */
  const post = (): Promise<void> | undefined => {
    const n = batch.length;
    if (n === 0) return;
    // Posting transfers the buffer: `batch` is empty afterwards.
    w.worker.postMessage([id, batch], [batch.buffer as ArrayBuffer]);
    inFlight += n;
    batch = copyIntoSpare(w.spares, new Uint8Array(0), BATCH_BYTES);
    if (inFlight <= MAX_IN_FLIGHT) return;
    return awaitWorker(
      w,
      new Promise<void>((resolve) => {
        drained = resolve;
      }),
    );
  };

  /**
   * Copies `bytes` from `at` into batches, posting each full one. Synchronous unless the worker
   * falls behind: then the promise copies the rest once it has caught up.
   */
  const append = (bytes: Uint8Array, at = 0): Promise<void> | undefined => {
    if (w.dead) failed(w);
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, BATCH_BYTES - batch.length);
      const grown = new Uint8Array(batch.buffer, 0, batch.length + n);
      grown.set(bytes.subarray(at, at + n), batch.length);
      batch = grown;
      at += n;
      const wait = batch.length === BATCH_BYTES ? post() : undefined;
      if (wait) return wait.then(() => append(bytes, at));
    }
  };
  /** An update still waiting for the worker; later updates queue behind it, in order. */
  let waiting: Promise<void> | undefined;

  const hash: IncrementalHash = {
    update(bytes) {
      let r: Promise<void> | undefined;
      try {
        r = waiting ? waiting.then(() => append(bytes)) : append(bytes);
      } catch (err) {
        // A dead worker: failed as a promise, as an asynchronous update would.
        return Promise.reject(err);
      }
      if (!r) return;
      const p: Promise<void> = r.then(() => {
        if (waiting === p) waiting = undefined;
      });
      waiting = p;
      return p;
    },
    async digest() {
      await waiting;
      await post();
      const digest = await awaitWorker(
        w,
        new Promise<Uint8Array | undefined>((resolve) => {
          finished = resolve;
          w.worker.postMessage([id, null]);
        }),
      );
      w.pending.delete(id);
      abandoned.unregister(token);
      return digest ?? failed(w);
    },
  };
  abandoned.register(hash, { w, id }, token);
  return hash;
}

function mainThreadHash(): IncrementalHash {
  const h = createHash('sha256');
  return {
    update(bytes) {
      h.update(bytes);
    },
    async digest() {
      return h.digest();
    },
  };
}

/**
 * A {@link HashProvider} for Node, backed by node:crypto (OpenSSL; SHA-NI where the CPU has it).
 * @param options - where the work runs.
 * @returns the provider.
 */
export function nodeHashProvider(options: NodeHashOptions = {}): HashProvider {
  const useWorker = options.worker ?? true;
  return {
    algorithm: 'sha256',
    name: useWorker ? 'node:crypto+worker' : 'node:crypto',
    digest: useWorker ? workerDigest : async (bytes) => createHash('sha256').update(bytes).digest(),
    create: async () => (useWorker ? workerHash() : mainThreadHash()),
  };
}
