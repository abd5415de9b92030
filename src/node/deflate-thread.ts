/**
 * The code that runs in a deflate worker thread (see `off-thread-deflate.ts`). It is bundled
 * on its own by `scripts/build-worker.mjs` into `deflate-thread.generated.ts`, and started
 * from that source, so it needs no file of its own at run time and works the same from the
 * ESM and CJS builds, the command line's bundle and the TypeScript sources under test.
 *
 * Each stream has an id. Messages from the main thread:
 * - `[id, 'open', engineName, params]`: start a raw deflate stream with a core engine.
 * - `[id, 'data', bytes]`: deflate `bytes` (the buffer is transferred); answered
 *   `[id, 'ack', n, buffer]` once the engine has taken them and their output went out (so
 *   every output message for them comes before it), with the buffer moved back for
 *   reuse when the engine copies what it keeps (a fresh buffer per piece would pile up here
 *   as garbage the thread's collector is slow to find: tens of MiB, measured).
 * - `[id, 'end']`: finish; answered `[id, 'done']` after the last output.
 * - `[id, 'abort']`: drop the stream.
 *
 * Output goes back as `[id, 'out', bytes]` (transferred), in order, as the engine makes it;
 * a failure as `[id, 'error', message]`, after which the stream is gone.
 *
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { coreDeflateEngines, type DeflateParams } from '../oci/gzip-reproduce.js';

/** Messages the main thread sends. */
export type DeflateThreadRequest =
  | [id: number, kind: 'open', engine: string, params: DeflateParams]
  | [id: number, kind: 'data', bytes: Uint8Array]
  | [id: number, kind: 'end' | 'abort'];

/** Messages the thread answers with. */
export type DeflateThreadReply =
  | [id: number, kind: 'out', bytes: Uint8Array]
  | [id: number, kind: 'ack', n: number, buffer?: ArrayBuffer]
  | [id: number, kind: 'done']
  | [id: number, kind: 'error', message: string];

const port = parentPort;
if (!port) throw new Error('deflate-thread runs only as a worker thread');

const engines = new Map(coreDeflateEngines().map((e) => [e.name, e]));
interface ThreadStream {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** Whether the engine is done with each piece once its write settles. */
  copies: boolean;
}
const streams = new Map<number, ThreadStream>();

const reply = (message: DeflateThreadReply, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

/** Ends stream `id` with a failure, once; later messages for it are ignored. */
function fail(id: number, err: unknown): void {
  const stream = streams.get(id);
  if (!stream) return;
  streams.delete(id);
  stream.writer.abort(err).catch(() => {});
  reply([id, 'error', err instanceof Error ? err.message : String(err)]);
}

/** Sends every piece of output back as it comes, the buffer moved rather than copied. */
async function forward(id: number, output: ReadableStream<Uint8Array>): Promise<void> {
  const reader = output.getReader();
  for (;;) {
    const r = await reader.read();
    if (!streams.has(id)) return;
    if (r.done) {
      streams.delete(id);
      reply([id, 'done']);
      return;
    }
    const whole = r.value.byteOffset === 0 && r.value.byteLength === r.value.buffer.byteLength;
    const bytes = whole ? r.value : r.value.slice();
    reply([id, 'out', bytes], [bytes.buffer as ArrayBuffer]);
  }
}

function open(id: number, name: string, params: DeflateParams): void {
  const engine = engines.get(name);
  if (!engine) {
    reply([id, 'error', `no deflate engine ${name} in the worker thread`]);
    return;
  }
  const pair = engine.createDeflateRaw(params);
  streams.set(id, { writer: pair.writable.getWriter(), copies: engine.copiesInput === true });
  forward(id, pair.readable).catch((err) => fail(id, err));
}

port.on('message', (m: DeflateThreadRequest) => {
  const id = m[0];
  try {
    if (m[1] === 'open') {
      open(id, m[2], m[3]);
      return;
    }
    const stream = streams.get(id);
    if (!stream) return;
    const { writer } = stream;
    if (m[1] === 'data') {
      const bytes = m[2];
      const ack = () => {
        if (!streams.has(id)) return;
        if (stream.copies) {
          const buffer = bytes.buffer as ArrayBuffer;
          reply([id, 'ack', bytes.length, buffer], [buffer]);
        } else {
          reply([id, 'ack', bytes.length]);
        }
      };
      // The ack goes after the output these bytes made: `forward` sends what the engine
      // queued in microtasks, before the next macrotask. The main thread stops keeping the
      // process alive once nothing it sent is unacknowledged, so no output may come later.
      writer.write(bytes).then(
        () => setImmediate(ack),
        (err) => fail(id, err),
      );
    } else if (m[1] === 'end') {
      writer.close().catch((err) => fail(id, err));
    } else {
      streams.delete(id);
      writer.abort(new Error('aborted')).catch(() => {});
    }
  } catch (err) {
    // An engine that refuses its parameters throws from createDeflateRaw.
    if (streams.has(id)) fail(id, err);
    else reply([id, 'error', err instanceof Error ? err.message : String(err)]);
  }
});
