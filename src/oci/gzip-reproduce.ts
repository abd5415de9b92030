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
 * {@link goDeflateEngine} (Go's `compress/flate`, which Docker, BuildKit and containerd
 * compress layers with), both platform-neutral ({@link coreDeflateEngines}); and, in
 * `layerdiff/node`, Node's own bundled zlib (a different fork, with different output).
 *
 * @module
 */
import { Deflate } from 'pako';
import { type GunzipFactory, webGunzip } from '../compress/decompress.js';
import { crc32 } from '../hash/crc32.js';
import { digestsEqual, parseDigest } from '../hash/digest.js';
import type { HashProvider, IncrementalHash } from '../hash/types.js';
import { GO_FLATE_ENGINE, goDeflateEngine } from './go-deflate-engine.js';
import { fromHex, gzipTrailer, parseGzipHeader, toHex } from './gzip-header.js';

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
 * system zlib's output), then Go's.
 * @returns the engines.
 */
export function coreDeflateEngines(): DeflateEngine[] {
  return [pakoDeflateEngine(), goDeflateEngine()];
}

/**
 * Creates a gzip writer that reproduces a blob: `params.header` verbatim, the engine's raw
 * deflate of the input, then the CRC-32 and size trailer.
 * @param params - recorded parameters (see {@link findGzipParams}).
 * @param engine - the engine named by `params.engine`.
 * @returns the tar-in, gzip-out stream pair.
 */
export function createGzipWriter(
  params: GzipParams,
  engine: DeflateEngine,
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
  const body = counter.readable.pipeThrough(engine.createDeflateRaw(params)).getReader();
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
 * suggests first), memLevel 8 then 9, default strategy. Each candidate reads the blob twice (to
 * decompress it and to compare) and stops at its first differing byte.
 *
 * @param openBlob - opens the blob from its start; called twice per candidate and once more
 * for the header.
 * @param options - engines, and the digest to check on the matching pass.
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
  const engines = options.engines ?? coreDeflateEngines();
  const head = await readHead(openBlob(), MAX_GZIP_HEADER + 16);
  const header = parseGzipHeader(head);
  if (header === 'invalid') return { tried: 0, reason: 'not a gzip member header' };
  if (header === 'short' || header.length > MAX_GZIP_HEADER) {
    return { tried: 0, reason: `gzip header longer than ${MAX_GZIP_HEADER} bytes` };
  }
  const headerHex = toHex(head.subarray(0, header.length));
  const expectedDigest = options.digest ? parseDigest(options.digest) : undefined;
  const gunzip = options.gunzip ?? webGunzip;
  let tried = 0;
  for (const memLevel of [8, 9]) {
    for (const level of levelOrder(header.xfl)) {
      for (const engine of engines) {
        if (engine.memLevels && !engine.memLevels.includes(memLevel)) continue;
        tried++;
        const params: GzipParams = {
          engine: engine.name,
          level,
          memLevel,
          strategy: 0,
          header: headerHex,
        };
        const hasher = expectedDigest && options.hash ? await options.hash.create() : undefined;
        if (!(await reproduces(openBlob, params, engine, hasher, gunzip))) continue;
        if (hasher && expectedDigest && !digestsEqual(await hasher.digest(), expectedDigest)) {
          return { tried, reason: 'the blob changed while it was being compared' };
        }
        return { params, tried };
      }
    }
  }
  return {
    tried,
    reason: `no candidate of ${engines.map((e) => e.name).join(', ')} reproduces it`,
  };
}

async function reproduces(
  openBlob: () => ReadableStream<Uint8Array>,
  params: GzipParams,
  engine: DeflateEngine,
  hasher: IncrementalHash | undefined,
  gunzip: GunzipFactory,
): Promise<boolean> {
  const expected = openBlob().getReader();
  const produced = gunzip(openBlob()).pipeThrough(createGzipWriter(params, engine)).getReader();
  const cmp = new Comparer(expected, hasher);
  try {
    for (;;) {
      const r = await produced.read();
      if (r.done) break;
      if (!(await cmp.match(r.value))) return false;
    }
    return await cmp.atEnd();
  } catch {
    return false;
  } finally {
    await produced.cancel().catch(() => {});
    await expected.cancel().catch(() => {});
  }
}

async function readHead(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const out = new Uint8Array(max);
  let size = 0;
  try {
    while (size < max) {
      const r = await reader.read();
      if (r.done) break;
      const n = Math.min(r.value.length, max - size);
      out.set(r.value.subarray(0, n), size);
      size += n;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out.subarray(0, size);
}
