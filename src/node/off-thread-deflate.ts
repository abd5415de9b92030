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
import {
  coreDeflateEngines,
  type DeflateEngine,
  type DeflateParams,
} from '../oci/gzip-reproduce.js';
import {
  attach,
  DeflateWorkerError,
  detach,
  owe,
  pickThread,
  post,
  type ThreadTask,
  taskId,
} from './deflate-pool.js';
import { copyIntoSpare } from './spare-buffers.js';

export { DeflateWorkerError };

/** Bytes posted to a thread and not yet taken by its engine before a write waits. */
const MAX_IN_FLIGHT = 1 << 20;
/** Output bytes waiting for the reader before writes wait. */
const MAX_QUEUED_OUTPUT = 1 << 20;

/**
 * One raw deflate stream run by a thread. A stream given up unfinished must be cancelled or
 * aborted, as any stream: until then its thread keeps the engine's state.
 */
function threadStream(
  engine: string,
  params: DeflateParams,
): ReadableWritablePair<Uint8Array, Uint8Array> {
  const t = pickThread();
  const id = taskId();
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
    owe(t, now);
  };
  let output!: ReadableStreamDefaultController<Uint8Array>;
  let input!: WritableStreamDefaultController;
  /** Whatever waits (a write for room, a close for the end), woken alike. */
  const waiting = new Set<() => void>();
  const signal = () => {
    for (const w of [...waiting]) w();
  };
  const waitFor = async (ready: () => boolean): Promise<void> => {
    while (!ready()) {
      await new Promise<void>((resolve) => {
        const w = () => {
          waiting.delete(w);
          resolve();
        };
        waiting.add(w);
      });
    }
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
  const handler: ThreadTask = {
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
        // As a TransformStream does: the writable side errors now, so that a pipe into it
        // cancels its source at once rather than at its next chunk.
        input.error(failure);
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: MAX_QUEUED_OUTPUT }),
  );
  const writable = new WritableStream<Uint8Array>({
    start(controller) {
      input = controller;
    },
    async write(chunk) {
      await waitFor(
        () => failure !== undefined || (inFlight < MAX_IN_FLIGHT && (output.desiredSize ?? 0) > 0),
      );
      check();
      // A copy the thread may keep: the caller's buffer may be reused once this write settles.
      const copy = copyIntoSpare(t.spares, chunk);
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
