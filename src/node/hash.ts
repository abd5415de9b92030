/**
 * SHA-256 for Node, arranged to use both cores: a long incremental hash (a layer's diff_id)
 * runs on a worker thread fed with copies of the bytes, while chunk digests run on the calling
 * thread beside the chunker.
 *
 * @module
 */
import { createHash, webcrypto } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { HashProvider, IncrementalHash } from '../hash/types.js';

/** Options of {@link nodeHashProvider}. */
export interface NodeHashOptions {
  /**
   * Run incremental hashes on a worker thread. Off, they run on the calling thread.
   * @default true
   */
  worker?: boolean;
  /**
   * Run one-shot (chunk) digests on libuv's thread pool (WebCrypto) instead of the calling
   * thread. Measured slower overall on 2 cores (the pool is shared with file I/O), so off by
   * default.
   * @default false
   */
  threadPool?: boolean;
}

/** Bytes gathered before a copy is posted to the worker. */
const BATCH_BYTES = 256 * 1024;
/** Bytes posted but not yet hashed before `update` waits. */
const MAX_IN_FLIGHT = 2 * 1024 * 1024;

// CommonJS, since eval'd workers are. One hash per session id: `[id, bytes]` adds bytes and is
// acknowledged with `[id, n, buffer]`, handing the buffer back for reuse (so no batch becomes
// garbage that the worker, which allocates almost nothing, would be slow to collect); `[id, null]` answers `[id, digest]`; `[id, undefined]` drops it.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', ([id, m]) => {
  if (m === undefined) { hashes.delete(id); return; }
  let h = hashes.get(id);
  if (!h) hashes.set(id, (h = createHash('sha256')));
  if (m === null) { hashes.delete(id); parentPort.postMessage([id, h.digest()]); }
  else { h.update(m); parentPort.postMessage([id, m.byteLength, m.buffer], [m.buffer]); }
});`;

interface Session {
  onAck(n: number, buffer: ArrayBuffer): void;
  onDigest(d: Uint8Array): void;
}

/**
 * One lazily started worker thread shared by every session. It keeps the process alive only
 * while someone awaits it (`waiters`), so an abandoned hash never blocks process exit.
 */
let shared:
  | { worker: Worker; sessions: Map<number, Session>; nextId: number; waiters: number }
  | undefined;
/** Drops a session's hash in the worker when a caller abandons it (never calls digest). */
const abandoned = new FinalizationRegistry<number>((id) => {
  shared?.sessions.delete(id);
  shared?.worker.postMessage([id, undefined]);
});

function hashWorker() {
  if (shared) return shared;
  // A small heap: the worker holds nothing but transferred batches, and a large young
  // generation would only let garbage batches pile up before they are collected.
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
  });
  const sessions = new Map<number, Session>();
  worker.on('message', ([id, m, buffer]: [number, number | Uint8Array, ArrayBuffer]) => {
    const s = sessions.get(id);
    if (typeof m === 'number') s?.onAck(m, buffer);
    else s?.onDigest(new Uint8Array(m));
  });
  worker.on('error', () => {
    // A dead worker fails its sessions' waits; the next session starts a new one.
    shared = undefined;
    for (const s of sessions.values()) s.onDigest(new Uint8Array(0));
  });
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  shared = { worker, sessions, nextId: 1, waiters: 0 };
  return shared;
}

/** Waits for a worker reply, keeping the process alive meanwhile. */
async function awaitWorker<T>(w: NonNullable<typeof shared>, wait: Promise<T>): Promise<T> {
  if (w.waiters++ === 0) w.worker.ref();
  try {
    return await wait;
  } finally {
    if (--w.waiters === 0) w.worker.unref();
  }
}

function workerHash(): IncrementalHash {
  const w = hashWorker();
  const id = w.nextId++;
  const spare: Uint8Array[] = [];
  let batch: Uint8Array = new Uint8Array(BATCH_BYTES);
  let batchLen = 0;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  let finished: ((d: Uint8Array) => void) | undefined;
  w.sessions.set(id, {
    onAck(n, buffer) {
      inFlight -= n;
      spare.push(new Uint8Array(buffer));
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

  const post = async () => {
    if (batchLen === 0) return;
    const full = batch.subarray(0, batchLen);
    w.worker.postMessage([id, full], [full.buffer as ArrayBuffer]);
    inFlight += batchLen;
    batch = spare.pop() ?? new Uint8Array(BATCH_BYTES);
    batchLen = 0;
    if (inFlight > MAX_IN_FLIGHT) {
      await awaitWorker(
        w,
        new Promise<void>((resolve) => {
          drained = resolve;
        }),
      );
    }
  };

  const hash: IncrementalHash = {
    async update(bytes) {
      let at = 0;
      while (at < bytes.length) {
        const n = Math.min(bytes.length - at, BATCH_BYTES - batchLen);
        batch.set(bytes.subarray(at, at + n), batchLen);
        batchLen += n;
        at += n;
        if (batchLen === BATCH_BYTES) await post();
      }
    },
    async digest() {
      await post();
      const digest = await awaitWorker(
        w,
        new Promise<Uint8Array>((resolve) => {
          finished = resolve;
          w.worker.postMessage([id, null]);
        }),
      );
      w.sessions.delete(id);
      abandoned.unregister(hash);
      if (digest.length !== 32) throw new Error('the hashing worker thread failed');
      return digest;
    },
  };
  abandoned.register(hash, id, hash);
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
  const threadPool = options.threadPool ?? false;
  return {
    algorithm: 'sha256',
    name: `node:crypto${threadPool ? '+threadpool' : ''}${useWorker ? '+worker' : ''}`,
    digest: threadPool
      ? async (bytes) => new Uint8Array(await webcrypto.subtle.digest('SHA-256', bytes))
      : async (bytes) => createHash('sha256').update(bytes).digest(),
    create: async () => (useWorker ? workerHash() : mainThreadHash()),
  };
}
