/**
 * The pool of deflate worker threads that `offThreadDeflate` runs its streams on: one thread
 * per core, started when first needed and ended after 10 s idle, each task on the thread with
 * the fewest. A thread keeps the process alive only
 * while it owes some task an answer. The thread's code is `deflate-thread.ts`.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LayerdiffError } from '../errors.js';
import { DEFLATE_THREAD_SOURCE } from './deflate-thread.generated.js';
import type { DeflateThreadReply, DeflateThreadRequest } from './deflate-thread.js';

/** A deflate worker thread died, or its engine failed; the streams it held are lost. */
export class DeflateWorkerError extends LayerdiffError {
  constructor(engine: string, cause: unknown) {
    super(
      'ERR_DEFLATE_WORKER',
      `deflate (${engine}) failed in its worker thread: ${String(cause)}`,
      {
        cause,
      },
    );
  }
}

/** Buffers given back by a thread kept for reuse. */
const MAX_SPARES = 32;
/** Larger buffers given back (copies of large writes) are let go. */
const MAX_SPARE_BYTES = 1 << 20;
/** An idle thread ends after this long, so a long-lived process does not keep its memory. */
const IDLE_MS = 10_000;

/** What a task (a stream) does with its thread's replies. */
export interface ThreadTask {
  reply(message: DeflateThreadReply): void;
  died(err: unknown): void;
}

/** One worker thread of the pool. */
export interface DeflateThread {
  worker: Worker;
  /** Buffers the thread gave back, for the next copies. */
  spares: ArrayBuffer[];
  streams: Map<number, ThreadTask>;
  /** Tasks the thread owes something (acks, output, the end): it keeps the process alive. */
  owing: number;
  idle?: ReturnType<typeof setTimeout>;
  dead?: unknown;
}

const threads: DeflateThread[] = [];
let nextId = 1;

/** A task id, unique in this process. */
export function taskId(): number {
  return nextId++;
}

function startThread(): DeflateThread {
  // A small heap: the engines keep a window and hash tables, and pieces in flight.
  const worker = new Worker(
    new URL(`data:text/javascript,${encodeURIComponent(DEFLATE_THREAD_SOURCE)}`),
    { resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } },
  );
  const t: DeflateThread = { worker, spares: [], streams: new Map(), owing: 0 };
  worker.on('message', (m: DeflateThreadReply) => {
    const spare = m[1] === 'ack' ? m[3] : undefined;
    if (spare && spare.byteLength <= MAX_SPARE_BYTES && t.spares.length < MAX_SPARES) {
      t.spares.push(spare);
    }
    t.streams.get(m[0])?.reply(m);
  });
  const die = (err: unknown) => {
    if (t.dead !== undefined) return;
    t.dead = err ?? new Error('stopped');
    clearTimeout(t.idle);
    retire(t);
    for (const s of t.streams.values()) s.died(t.dead);
    t.streams.clear();
  };
  worker.on('error', die);
  worker.on('exit', (code) => die(new Error(`exited with code ${code}`)));
  // After the listeners: adding a 'message' listener refs the worker again.
  worker.unref();
  threads.push(t);
  return t;
}

/** Takes a thread out of the pool: no new stream goes to it. */
function retire(t: DeflateThread): void {
  const i = threads.indexOf(t);
  if (i >= 0) threads.splice(i, 1);
}

/** The number of threads the pool grows to: one per core. */
function poolSize(): number {
  return Math.max(1, availableParallelism());
}

/** The thread with the fewest tasks, or a new one while there are fewer than cores. */
export function pickThread(): DeflateThread {
  const least = threads.reduce<DeflateThread | undefined>(
    (best, t) => (!best || t.streams.size < best.streams.size ? t : best),
    undefined,
  );
  if (least && (least.streams.size === 0 || threads.length >= poolSize())) return least;
  return startThread();
}

/** Routes the thread's replies for `id` to `task`. */
export function attach(t: DeflateThread, id: number, task: ThreadTask): void {
  clearTimeout(t.idle);
  t.idle = undefined;
  t.streams.set(id, task);
}

/** Ends task `id`'s routing; a thread left without tasks ends after {@link IDLE_MS}. */
export function detach(t: DeflateThread, id: number): void {
  if (!t.streams.delete(id) || t.streams.size > 0 || t.dead !== undefined) return;
  t.idle = setTimeout(() => {
    retire(t);
    t.worker.terminate();
  }, IDLE_MS);
  t.idle.unref();
}

/** Sends a request to the thread, moving the buffers in `transfer`. */
export function post(
  t: DeflateThread,
  message: DeflateThreadRequest,
  transfer: ArrayBuffer[] = [],
): void {
  t.worker.postMessage(message, transfer);
}

/**
 * Counts a task as owed an answer by its thread, or no longer: while any is, the thread keeps
 * the process alive (its answer will come); a task that only waits on its own caller does not.
 */
export function owe(t: DeflateThread, owed: boolean): void {
  if (owed ? t.owing++ === 0 : --t.owing === 0) {
    if (owed) t.worker.ref();
    else t.worker.unref();
  }
}
