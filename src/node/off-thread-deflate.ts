/**
 * Deflate on worker threads. The gzip engines that reproduce layers are JavaScript, from 5 to
 * 20 MB/s here, and recompressing or checking a gzip layer is most of the work of pulling,
 * pushing or restoring it. {@link offThreadDeflate} runs an engine's stream on a small pool of
 * worker threads (one per core), so that the main thread stays free for the rest and several
 * layers at once use every core. The output is the engine's own, byte for byte: the same code
 * runs in the thread, fed the same bytes in the same pieces.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { LayerdiffError } from '../errors.js';
import {
  coreDeflateEngines,
  type DeflateEngine,
  type DeflateParams,
} from '../oci/gzip-reproduce.js';
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

/** Bytes posted to a thread and not yet taken by its engine before a write waits. */
const MAX_IN_FLIGHT = 1 << 20;
/** Output bytes waiting for the reader before writes wait. */
const MAX_QUEUED_OUTPUT = 1 << 20;
/** Buffers given back by a thread kept for reuse. */
const MAX_SPARES = 32;
/** An idle thread ends after this long, so a long-lived process does not keep its memory. */
const IDLE_MS = 10_000;

/** What a stream does with its thread's replies. */
interface StreamHandler {
  reply(message: DeflateThreadReply): void;
  died(err: unknown): void;
}

interface DeflateThread {
  worker: Worker;
  /** Buffers the thread gave back, for the next copies. */
  spares: ArrayBuffer[];
  streams: Map<number, StreamHandler>;
  /** Streams the thread owes something (acks, output, the end): it keeps the process alive. */
  owing: number;
  idle?: ReturnType<typeof setTimeout>;
  dead?: unknown;
}

const threads: DeflateThread[] = [];
let nextId = 1;

function startThread(): DeflateThread {
  // A small heap: the engines keep a window and hash tables, and pieces in flight.
  const worker = new Worker(
    new URL(`data:text/javascript,${encodeURIComponent(DEFLATE_THREAD_SOURCE)}`),
    { resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } },
  );
  const t: DeflateThread = { worker, spares: [], streams: new Map(), owing: 0 };
  worker.on('message', (m: DeflateThreadReply) => {
    if (m[1] === 'ack' && m[3] && t.spares.length < MAX_SPARES) t.spares.push(m[3]);
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

/** The thread with the fewest streams, or a new one while there are fewer than cores. */
function pickThread(): DeflateThread {
  const least = threads.reduce<DeflateThread | undefined>(
    (best, t) => (!best || t.streams.size < best.streams.size ? t : best),
    undefined,
  );
  const max = Math.max(1, availableParallelism());
  if (least && (least.streams.size === 0 || threads.length >= max)) return least;
  return startThread();
}

function attach(t: DeflateThread, id: number, handler: StreamHandler): void {
  clearTimeout(t.idle);
  t.idle = undefined;
  t.streams.set(id, handler);
}

function detach(t: DeflateThread, id: number): void {
  if (!t.streams.delete(id) || t.streams.size > 0 || t.dead !== undefined) return;
  t.idle = setTimeout(() => {
    retire(t);
    t.worker.terminate();
  }, IDLE_MS);
  t.idle.unref();
}

/** A copy of `bytes` in a buffer the thread gave back (a power of two, at least 64 KiB). */
function copyFor(t: DeflateThread, bytes: Uint8Array): Uint8Array {
  const i = t.spares.findIndex((b) => b.byteLength >= bytes.length);
  let size = 64 * 1024;
  while (size < bytes.length) size *= 2;
  const buffer = i >= 0 ? t.spares.splice(i, 1)[0]! : new ArrayBuffer(size);
  const copy = new Uint8Array(buffer, 0, bytes.length);
  copy.set(bytes);
  return copy;
}

function post(t: DeflateThread, message: DeflateThreadRequest, transfer: ArrayBuffer[] = []) {
  t.worker.postMessage(message, transfer);
}

/**
 * One raw deflate stream run by a thread. A stream given up unfinished must be cancelled or
 * aborted, as any stream: until then its thread keeps the engine's state.
 */
function threadStream(
  engine: string,
  params: DeflateParams,
): ReadableWritablePair<Uint8Array, Uint8Array> {
  const t = pickThread();
  const id = nextId++;
  let failure: unknown;
  let finished = false;
  let inFlight = 0;
  let closing = false;
  /**
   * While the thread works on this stream's input the process stays alive, since its answer
   * will come; a stream that only waits for its reader (or was left unfinished) does not.
   */
  let owes = false;
  const owed = () => {
    const now = !finished && (inFlight > 0 || closing);
    if (now === owes) return;
    owes = now;
    if (now ? t.owing++ === 0 : --t.owing === 0) {
      if (now) t.worker.ref();
      else t.worker.unref();
    }
  };
  let output!: ReadableStreamDefaultController<Uint8Array>;
  /** Wakes whatever waits: a write for room, a close for the end, a read for output. */
  let wake: (() => void) | undefined;
  const signal = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitFor = async (ready: () => boolean): Promise<void> => {
    while (!ready()) await new Promise<void>((resolve) => (wake = resolve));
  };
  const end = (err?: unknown) => {
    if (finished) return;
    finished = true;
    owed();
    detach(t, id);
    if (err !== undefined) {
      failure = err;
      output.error(err);
    }
    signal();
  };
  const handler: StreamHandler = {
    reply(m) {
      if (m[1] === 'out') {
        output.enqueue(m[2]);
      } else if (m[1] === 'ack') {
        inFlight -= m[2];
        owed();
      } else if (m[1] === 'done') {
        output.close();
        end();
      } else {
        end(new DeflateWorkerError(engine, m[2]));
      }
      signal();
    },
    died(err) {
      end(new DeflateWorkerError(engine, err));
    },
  };
  attach(t, id, handler);
  post(t, [id, 'open', engine, params]);
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        output = controller;
      },
      pull() {
        signal();
      },
      cancel(reason) {
        failure ??= reason ?? new Error('cancelled');
        if (!finished) post(t, [id, 'abort']);
        end();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: MAX_QUEUED_OUTPUT }),
  );
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      await waitFor(
        () => failure !== undefined || (inFlight < MAX_IN_FLIGHT && (output.desiredSize ?? 0) > 0),
      );
      check();
      // A copy the thread may keep: the caller's buffer may be reused once this write settles.
      const copy = copyFor(t, chunk);
      inFlight += copy.length;
      owed();
      post(t, [id, 'data', copy], [copy.buffer as ArrayBuffer]);
    },
    async close() {
      check();
      post(t, [id, 'end']);
      closing = true;
      owed();
      await waitFor(() => finished);
      check();
    },
    abort(reason) {
      failure ??= reason ?? new Error('aborted');
      if (!finished) post(t, [id, 'abort']);
      end(failure);
    },
  });
  return { readable, writable };
}

/** Names of the engines a thread can run: the core ones. */
const THREAD_ENGINES = new Set(coreDeflateEngines().map((e) => e.name));

/**
 * The same engine, run on a pool of worker threads (one per core, started when first needed,
 * ended after 10 s idle, never keeping the process alive on their own). Each stream runs on
 * the thread with the fewest; input is copied to it, at most 1 MiB ahead of the engine, and
 * output waits for the reader beyond 1 MiB. An engine that is not one of the core engines
 * (`coreDeflateEngines`, e.g. Node's own zlib, which works off the main thread already) is
 * returned as it is. A stream whose thread fails errors with {@link DeflateWorkerError}.
 *
 * Worth it for long streams (recompressing or checking a whole layer); a stream costs a round
 * trip to its thread before its first output, so trying many short candidates is faster on
 * the calling thread.
 *
 * @param engine - a core engine.
 * @returns the engine, run off the calling thread.
 * @example
 * ```ts
 * const engines = defaultDeflateEngines().map(offThreadDeflate);
 * ```
 */
export function offThreadDeflate(engine: DeflateEngine): DeflateEngine {
  if (!THREAD_ENGINES.has(engine.name)) return engine;
  return {
    name: engine.name,
    copiesInput: true,
    ...(engine.memLevels ? { memLevels: engine.memLevels } : {}),
    ...(engine.levels ? { levels: engine.levels } : {}),
    ...(engine.strategies ? { strategies: engine.strategies } : {}),
    createDeflateRaw: (params) => threadStream(engine.name, params),
  };
}
