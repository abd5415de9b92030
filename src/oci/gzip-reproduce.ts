/**
 * Reproducing a gzip layer blob byte for byte. A gzip blob can be rebuilt from its
 * uncompressed tar only if the deflate encoder and its settings are known exactly; nothing in
 * the blob records them. So at conversion time candidates are *tried*: each candidate's output
 * (the blob's own header bytes, the candidate's deflate stream, the CRC-32/size trailer) is
 * compared with the blob as it is produced, and a candidate is dropped at its first differing
 * byte, which is usually within the first deflate block. The parameters of the first candidate
 * that reproduces every byte are recorded; restoring recompresses with them and checks the
 * blob digest again. Nothing is assumed: a blob no candidate reproduces is reported as such.
 *
 * Engines: {@link pakoDeflateEngine} (pako 2.1.0, a JavaScript port of zlib 1.2 whose output
 * is the same as the system zlib that Python, pigz's single-thread mode and many tools use),
 * {@link goDeflateEngine} (Go's `compress/flate` up to Go 1.26, which Docker, BuildKit and
 * containerd compress layers with), {@link klauspostDeflateEngine} (klauspost/compress, in
 * pgzip's blocks as skopeo, podman, buildah and umoci compress layers, or in one stream as Go
 * 1.27's `compress/gzip` does), all platform-neutral
 * ({@link coreDeflateEngines}); and, in
 * `layerdiff/node`, Node's own bundled zlib (a different fork, with different output).
 *
 * @module
 */
import { Deflate } from 'pako';
import { boundedTee } from '../bounded-tee.js';
import { readHead, streamOfBytes } from '../bytes-stream.js';
import { type GunzipFactory, webGunzip } from '../compress/decompress.js';
import { crc32 } from '../hash/crc32.js';
import { digestsEqual, parseDigest } from '../hash/digest.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { giveBack } from '../lend.js';
import { GO_FLATE_ENGINE, goDeflateEngine } from './go-deflate-engine.js';
import { fromHex, gzipTrailer, parseGzipHeader, toHex } from './gzip-header.js';
import { klauspostEngines } from './klauspost-deflate-engine.js';

export {
  KLAUSPOST_118_FLATE_ENGINE,
  KLAUSPOST_FLATE_ENGINE,
  klauspostDeflateEngine,
  klauspostEngines,
  PGZIP_118_ENGINE,
  PGZIP_118_UMOCI_ENGINE,
  PGZIP_ENGINE,
  PGZIP_UMOCI_ENGINE,
} from './klauspost-deflate-engine.js';
export { GO_FLATE_ENGINE, goDeflateEngine };

/** Settings of a zlib-style raw deflate encoder. */
export interface DeflateParams {
  /** 1 to 9. */
  level: number;
  /** 1 to 9; zlib's default is 8. */
  memLevel: number;
  /** 0 (default), 1 (filtered), 2 (Huffman only), 3 (RLE) or 4 (fixed). */
  strategy: number;
}

/** A raw deflate encoder implementation, named so that what was verified can be found again. */
export interface DeflateEngine {
  /** A stable name that includes the implementation's version, e.g. `pako-2.1.0`. */
  readonly name: string;
  /**
   * The memLevels whose output differs; candidates with others are not tried (an engine
   * without memLevel lists one). @default [8, 9]
   */
  readonly memLevels?: readonly number[];
  /** The levels it has; candidates with others are not tried. @default 1-9 */
  readonly levels?: readonly number[];
  /** The strategies it has (the others are refused). @default [0, 1, 2, 3, 4] */
  readonly strategies?: readonly number[];
  /**
   * True when the stream is done with each chunk written to it once that write settles (it
   * copies what it keeps): {@link createGzipWriter} may then give lent buffers back.
   */
  readonly copiesInput?: boolean;
  /** Creates a raw deflate (no zlib or gzip wrapper) stream with a 32 KiB window. */
  createDeflateRaw(params: DeflateParams): ReadableWritablePair<Uint8Array, Uint8Array>;
}

/** What reproduces a gzip blob: the engine, its settings and the blob's own header bytes. */
export interface GzipParams extends DeflateParams {
  /** {@link DeflateEngine.name}. */
  engine: string;
  /** The gzip header bytes, as lowercase hex. */
  header: string;
}

/** The name of {@link pakoDeflateEngine}. */
export const PAKO_ENGINE = 'pako-2.1.0';

/** Most gzip header bytes recorded (FEXTRA, FNAME and FCOMMENT make headers long). */
export const MAX_GZIP_HEADER = 4096;

/**
 * The pako 2.1.0 engine: zlib 1.2's deflate in JavaScript, identical in output to the system
 * zlib (measured against zlib 1.2.13 at every level). About 15-20 MB/s.
 * @returns the engine.
 */
export function pakoDeflateEngine(): DeflateEngine {
  return {
    name: PAKO_ENGINE,
    // push() deflates all of its input before it returns.
    copiesInput: true,
    createDeflateRaw(params) {
      const deflate = new Deflate({
        level: params.level as 1,
        memLevel: params.memLevel,
        strategy: params.strategy,
        raw: true,
        windowBits: 15,
      });
      return new TransformStream<Uint8Array, Uint8Array>({
        start(controller) {
          // pako hands out a fresh output buffer after each callback.
          deflate.onData = (chunk) => controller.enqueue(chunk as Uint8Array);
        },
        transform(chunk) {
          deflate.push(chunk, false);
          if (deflate.err) throw new Error(`deflate failed: ${deflate.msg}`);
        },
        flush() {
          deflate.push(new Uint8Array(0), true);
          if (deflate.err) throw new Error(`deflate failed: ${deflate.msg}`);
        },
      });
    },
  };
}

/**
 * The engines that run everywhere, in the order gzip reproduction tries them: pako (the
 * system zlib's output), Go's, then klauspost's (pgzip's blocks, then one stream: see
 * `klauspostEngines`).
 * @returns the engines.
 */
export function coreDeflateEngines(): DeflateEngine[] {
  return [pakoDeflateEngine(), goDeflateEngine(), ...klauspostEngines()];
}

/** Options of {@link createGzipWriter}. */
export interface GzipWriterOptions {
  /**
   * Give the buffer behind each piece written back (`giveBack`) once the engine is done with
   * it, when the engine says it copies its input ({@link DeflateEngine.copiesInput}): for a
   * source that lends one buffer per piece, such as `reassemble` with `recycle`. @default false
   */
  giveBack?: boolean;
}

/**
 * Creates a gzip writer that reproduces a blob: `params.header` verbatim, the engine's raw
 * deflate of the input, then the CRC-32 and size trailer.
 * @param params - recorded parameters (see {@link findGzipParams}).
 * @param engine - the engine named by `params.engine`.
 * @param options - whether to give lent buffers back.
 * @returns the tar-in, gzip-out stream pair.
 */
export function createGzipWriter(
  params: GzipParams,
  engine: DeflateEngine,
  options: GzipWriterOptions = {},
): ReadableWritablePair<Uint8Array, Uint8Array> {
  const header = fromHex(params.header);
  if (!header) throw new Error('gzip header must be hex');
  let crc = 0;
  let size = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      crc = crc32(chunk, crc);
      size += chunk.length;
      controller.enqueue(chunk);
    },
  });
  const deflate = engine.createDeflateRaw(params);
  let sink = deflate.writable;
  if (options.giveBack === true && engine.copiesInput === true) {
    const input = deflate.writable.getWriter();
    sink = new WritableStream<Uint8Array>({
      async write(chunk) {
        // Settles once the engine's transform has taken the chunk.
        await input.write(chunk);
        giveBack(chunk.buffer);
      },
      close: () => input.close(),
      abort: (reason) => input.abort(reason),
    });
  }
  // Errors reach the reader through the engine's readable, and the writer through `counter`.
  counter.readable.pipeTo(sink).catch(() => {});
  const body = deflate.readable.getReader();
  const readable = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        controller.enqueue(header);
      },
      async pull(controller) {
        const r = await body.read();
        if (r.done) {
          controller.enqueue(gzipTrailer(crc, size));
          controller.close();
        } else {
          controller.enqueue(r.value);
        }
      },
      cancel(reason) {
        return body.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { writable: counter.writable, readable };
}

/** Options of {@link findGzipParams}. */
export interface GzipSearchOptions {
  /** Engines to try, in order. @default coreDeflateEngines() */
  engines?: DeflateEngine[];
  /** With {@link GzipSearchOptions.digest}: the matching pass also checks the blob's digest. */
  hash?: HashProvider;
  /** The blob's expected digest, `sha256:<hex>`. */
  digest?: string;
  /** The gzip decoder. @default webGunzip */
  gunzip?: GunzipFactory;
  /**
   * Candidates not to try again, in the order they are tried: the `tried` of an earlier
   * search whose candidate then failed. @default 0
   */
  skip?: number;
  /**
   * The blob's first {@link GZIP_PROBE_BYTES} bytes, read already (a blob longer than that):
   * they are not read again.
   */
  head?: Uint8Array;
  /** Ends the search with its reason once aborted (the work it was for was given up). */
  signal?: AbortSignal;
}

/** What {@link findGzipParams} found. */
export interface GzipSearchResult {
  /** The parameters that reproduce the blob byte for byte, when some did. */
  params?: GzipParams;
  /** Candidates tried. */
  tried: number;
  /** Why the blob is not reproduced, when it is not. */
  reason?: string;
}

/** Levels in the order to try them, the one the header's XFL suggests first. */
function levelOrder(xfl: number): number[] {
  const first = xfl === 2 ? [9] : xfl === 4 ? [1] : [6, 2, 3, 4, 5, 7, 8];
  return [...first, ...[1, 2, 3, 4, 5, 6, 7, 8, 9].filter((l) => !first.includes(l))];
}

/** Compares a produced stream against the expected bytes, piece by piece. */
class Comparer {
  private buf: Uint8Array = new Uint8Array(0);
  private at = 0;
  constructor(
    private readonly expected: ReadableStreamDefaultReader<Uint8Array>,
    private readonly hasher: IncrementalHash | undefined,
  ) {}

  /** True while `bytes` are the next expected bytes. */
  async match(bytes: Uint8Array): Promise<boolean> {
    let i = 0;
    while (i < bytes.length) {
      if (this.at >= this.buf.length && !(await this.next())) return false;
      const n = Math.min(bytes.length - i, this.buf.length - this.at);
      for (let k = 0; k < n; k++) if (bytes[i + k] !== this.buf[this.at + k]) return false;
      i += n;
      this.at += n;
    }
    return true;
  }

  /** True when the expected bytes end here. */
  async atEnd(): Promise<boolean> {
    return this.at >= this.buf.length && !(await this.next());
  }

  private async next(): Promise<boolean> {
    for (;;) {
      const r = await this.expected.read();
      if (r.done) return false;
      if (r.value.length === 0) continue;
      await this.hasher?.update(r.value);
      this.buf = r.value;
      this.at = 0;
      return true;
    }
  }
}

/**
 * Tries to reproduce a gzip blob with each engine at levels 1-9 (the level the header's XFL
 * suggests first), memLevel 8 then 9, default strategy: every candidate is first tried
 * against the blob's first MiB in memory ({@link probeGzipParams}), and only one that agrees
 * is checked over the whole blob ({@link verifyGzipParams}), reading it once more.
 *
 * @param openBlob - opens the blob from its start: once for its first MiB (unless
 * `options.head` has it), and once for each candidate that agrees with it (usually one).
 * @param options - engines, the digest to check on the matching pass, and candidates to skip.
 * @returns the parameters of the first candidate that reproduces every byte (and, with
 * `options.digest`, whose pass saw bytes with that digest), or why none did.
 * @example
 * ```ts
 * const { params } = await findGzipParams(() => fileSource('layer.tar.gz'));
 * ```
 */
export async function findGzipParams(
  openBlob: () => ReadableStream<Uint8Array>,
  options: GzipSearchOptions = {},
): Promise<GzipSearchResult> {
  const { head, complete } = options.head
    ? { head: options.head, complete: false }
    : await readHead(openBlob(), GZIP_PROBE_BYTES).then(async (r) => {
        await r.whole.cancel().catch(() => {});
        return r;
      });
  let tried = options.skip ?? 0;
  for (;;) {
    options.signal?.throwIfAborted();
    const probe = await probeGzipParams(head, complete, { ...options, skip: tried });
    tried = probe.tried;
    if (!probe.params || !probe.engine) return { tried, reason: probe.reason };
    // A whole blob in the probe was checked to its end; its digest is checked here.
    const ok = complete
      ? !options.digest || !options.hash || (await sameDigest(head, options.hash, options.digest))
      : await verifyGzipParams(openBlob(), probe.params, probe.engine, options);
    if (ok) return { params: probe.params, tried };
  }
}

async function sameDigest(bytes: Uint8Array, hash: HashProvider, digest: string): Promise<boolean> {
  const expected = parseDigest(digest);
  return !!expected && digestsEqual(await hash.digest(bytes), expected);
}

function noneReproduces(engines: readonly DeflateEngine[]): string {
  return `no candidate of ${engines.map((e) => e.name).join(', ')} reproduces it`;
}

/** Every candidate, in the order they are tried: memLevel, then level, then engine. */
function* candidates(
  xfl: number,
  header: string,
  engines: readonly DeflateEngine[],
): Generator<{ params: GzipParams; engine: DeflateEngine }> {
  for (const memLevel of [8, 9]) {
    for (const level of levelOrder(xfl)) {
      for (const engine of engines) {
        if (engine.memLevels && !engine.memLevels.includes(memLevel)) continue;
        if (engine.levels && !engine.levels.includes(level)) continue;
        yield { params: { engine: engine.name, level, memLevel, strategy: 0, header }, engine };
      }
    }
  }
}

/** Compressed bytes a probe looks at (see {@link probeGzipParams}). */
export const GZIP_PROBE_BYTES = 1 << 20;
/** Uncompressed bytes a probe feeds a candidate at most. */
const PROBE_OUTPUT = 8 << 20;
/**
 * How far (in compressed bytes) a candidate's output may trail its input in
 * {@link verifyGzipParams} before the check gives up on it (a false negative, never a hang).
 * An encoder holds back at most a block: 16,384 symbols in Go and in zlib at memLevel 8,
 * 32,767 at memLevel 9, so up to 8.45 MB of input for a blob whose original stored a run of
 * zeros that the candidate codes as matches.
 */
const MAX_ENCODER_LAG = 8 << 20;

/** What {@link probeGzipParams} found. */
export interface GzipProbeResult {
  /** The first candidate that agrees with the blob's start, when one did. */
  params?: GzipParams;
  /** Its engine. */
  engine?: DeflateEngine;
  /** True when the probe saw the whole blob, so `params` reproduce it byte for byte. */
  verified: boolean;
  /** Candidates tried. */
  tried: number;
  /** Why no candidate is left, when none is. */
  reason?: string;
}

/**
 * Tries every candidate of {@link findGzipParams}, in the same order, against the start of a
 * blob held in memory, without reading the blob again: the first candidate whose output agrees
 * with every byte of `head` it makes (from at most 8 MiB of uncompressed input) is returned.
 * When `head` is the whole blob, the candidate is checked to its end, as `findGzipParams`
 * checks it, and `verified` is true; otherwise {@link verifyGzipParams} must check it over the
 * whole blob before it is recorded.
 *
 * @param head - the blob's first bytes (up to {@link GZIP_PROBE_BYTES}), or all of it.
 * @param complete - whether `head` is the whole blob.
 * @param options - engines, decoder, and candidates to skip.
 * @returns the candidate (`tried` counts the skipped ones too), or why there is none.
 */
export async function probeGzipParams(
  head: Uint8Array,
  complete: boolean,
  options: Pick<GzipSearchOptions, 'engines' | 'gunzip' | 'skip'> = {},
): Promise<GzipProbeResult> {
  const engines = options.engines ?? coreDeflateEngines();
  const gunzip = options.gunzip ?? webGunzip;
  const header = parseGzipHeader(head.subarray(0, MAX_GZIP_HEADER + 16));
  if (header === 'invalid')
    return { verified: false, tried: 0, reason: 'not a gzip member header' };
  if (header === 'short' || header.length > MAX_GZIP_HEADER) {
    return {
      verified: false,
      tried: 0,
      reason: `gzip header longer than ${MAX_GZIP_HEADER} bytes`,
    };
  }
  const headerHex = toHex(head.subarray(0, header.length));
  const bytes = () => streamOfBytes(head);
  let tried = 0;
  for (const { params, engine } of candidates(header.xfl, headerHex, engines)) {
    if (tried++ < (options.skip ?? 0)) continue;
    const agrees = complete
      ? await reproduces(bytes(), bytes(), params, engine, undefined, gunzip)
      : await agreesWithHead(head, params, engine, gunzip);
    if (agrees) return { params, engine, verified: complete, tried };
  }
  return { verified: false, tried, reason: noneReproduces(engines) };
}

/**
 * Checks one candidate over a whole blob read once, as it streams past: the blob is split
 * between the decoder that feeds the candidate and the comparison of its output.
 * @param blob - the blob's bytes (read to its end unless the candidate fails first).
 * @param params - the candidate.
 * @param engine - its engine.
 * @param options - the decoder (default `webGunzip`); with `hash` and `digest`, the bytes
 * compared must have that digest; a signal that stops the check (it then gives false).
 * @returns whether the candidate reproduces every byte and ends where the blob ends.
 */
export async function verifyGzipParams(
  blob: ReadableStream<Uint8Array>,
  params: GzipParams,
  engine: DeflateEngine,
  options: Pick<GzipSearchOptions, 'gunzip' | 'hash' | 'digest'> & { signal?: AbortSignal } = {},
): Promise<boolean> {
  // Copies for the comparison: a decoder may give lent input buffers back to their source.
  const [input, expected] = boundedTee(blob, {
    maxLead: MAX_ENCODER_LAG,
    overflow: 'error',
    copySecond: true,
  });
  const digest = options.digest ? parseDigest(options.digest) : undefined;
  const hasher = digest && options.hash ? await options.hash.create() : undefined;
  const gunzip = options.gunzip ?? webGunzip;
  if (!(await reproduces(expected, input, params, engine, hasher, gunzip, options.signal))) {
    return false;
  }
  return !hasher || !digest || digestsEqual(await hasher.digest(), digest);
}

/** Whether a candidate's output, as far as it goes, is the start of `head`. */
async function agreesWithHead(
  head: Uint8Array,
  params: GzipParams,
  engine: DeflateEngine,
  gunzip: GunzipFactory,
): Promise<boolean> {
  const pair = createGzipWriter(params, engine);
  const writer = pair.writable.getWriter();
  const output = pair.readable.getReader();
  let at = 0;
  let differs = false;
  let decided = false;
  // Reads every piece of output, so that writing never waits on it; compares until decided.
  const comparing = (async () => {
    try {
      for (;;) {
        const r = await output.read();
        if (r.done) return;
        for (let i = 0; i < r.value.length && !decided; i++) {
          if (at >= head.length) decided = true;
          else if (r.value[i] !== head[at++]) decided = differs = true;
        }
      }
    } catch {
      differs = true;
    }
  })();
  const input = gunzip(streamOfBytes(head)).getReader();
  try {
    let fed = 0;
    while (!decided && !differs && fed < PROBE_OUTPUT) {
      // The head is cut short: the decoder's complaint about its end is expected.
      const r = await input.read().catch(() => ({ done: true as const, value: undefined }));
      if (r.done) break;
      const piece = r.value.subarray(0, PROBE_OUTPUT - fed);
      fed += piece.length;
      await writer.write(piece);
    }
    // Let output already made come through before judging (Node's zlib works off-thread).
    for (let i = 0; i < 4 && !differs; i++) {
      await Promise.race([comparing, new Promise((resolve) => setTimeout(resolve, 0))]);
    }
    return !differs;
  } catch {
    return false;
  } finally {
    await input.cancel().catch(() => {});
    await output.cancel().catch(() => {});
    await writer.abort().catch(() => {});
  }
}

async function reproduces(
  expectedBlob: ReadableStream<Uint8Array>,
  inputBlob: ReadableStream<Uint8Array>,
  params: GzipParams,
  engine: DeflateEngine,
  hasher: IncrementalHash | undefined,
  gunzip: GunzipFactory,
  signal?: AbortSignal,
): Promise<boolean> {
  const expected = expectedBlob.getReader();
  const produced = gunzip(inputBlob).pipeThrough(createGzipWriter(params, engine)).getReader();
  const cmp = new Comparer(expected, hasher);
  const stop = () => {
    produced.cancel().catch(() => {});
    expected.cancel().catch(() => {});
  };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      if (signal?.aborted) return false;
      const r = await produced.read();
      if (r.done) break;
      if (!(await cmp.match(r.value))) return false;
    }
    // A stop cancels both sides, which then read as ended: not a match.
    return (await cmp.atEnd()) && !signal?.aborted;
  } catch {
    return false;
  } finally {
    signal?.removeEventListener('abort', stop);
    await produced.cancel().catch(() => {});
    await expected.cancel().catch(() => {});
  }
}
