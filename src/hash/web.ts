/**
 * Platform-neutral hash providers: WebCrypto for one-shot digests, with workerd's
 * `crypto.DigestStream` or hash-wasm for incremental ones, and hash-wasm for everything where
 * `crypto.subtle` is missing (a page that is not a secure context).
 *
 * @module
 */
import { WasmUnavailableError } from '../errors.js';
import type { HashProvider, IncrementalHash } from './types.js';

/** workerd's non-standard streaming digest (absent elsewhere). */
interface DigestStreamLike extends WritableStream<Uint8Array> {
  readonly digest: Promise<ArrayBuffer>;
}
type DigestStreamCtor = new (algorithm: string) => DigestStreamLike;

function subtleDigest(subtle: SubtleCrypto, bytes: Uint8Array): Promise<Uint8Array> {
  return subtle
    .digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
    .then((buf) => new Uint8Array(buf));
}

function digestStreamHash(Ctor: DigestStreamCtor): IncrementalHash {
  const stream = new Ctor('SHA-256');
  const writer = stream.getWriter();
  return {
    update: (bytes) => writer.write(bytes),
    async digest() {
      await writer.close();
      return new Uint8Array(await stream.digest);
    },
  };
}

/** hash-wasm's SHA-256, loaded only where it is needed (see {@link hashWasmHash}). */
async function loadHashWasm(): Promise<typeof import('hash-wasm')> {
  try {
    // The module embeds every hash-wasm algorithm, and merely loading it costs a Node process
    // some 14 MiB of resident memory.
    return await import('hash-wasm');
  } catch (err) {
    throw unavailable(err);
  }
}

function unavailable(err: unknown): WasmUnavailableError {
  return new WasmUnavailableError(
    `SHA-256 needs crypto.subtle or WebAssembly, and ${String((err as Error)?.message ?? err)}`,
    { cause: err },
  );
}

async function hashWasmHash(): Promise<IncrementalHash> {
  const { createSHA256 } = await loadHashWasm();
  const hasher = await createSHA256().catch((err: unknown) => {
    throw unavailable(err);
  });
  hasher.init();
  return {
    update(bytes) {
      hasher.update(bytes);
    },
    async digest() {
      return hasher.digest('binary');
    },
  };
}

async function hashWasmDigest(bytes: Uint8Array): Promise<Uint8Array> {
  const h = await hashWasmHash();
  await h.update(bytes);
  return h.digest();
}

/**
 * A {@link HashProvider} that needs only web-standard APIs: one-shot digests through
 * `crypto.subtle`, incremental digests through workerd's `crypto.DigestStream` where it
 * exists (native, no Wasm compilation) and through hash-wasm elsewhere. Where `crypto.subtle`
 * is missing (a browser page that is not a secure context), hash-wasm does both; where
 * WebAssembly cannot run either, hashing fails with {@link WasmUnavailableError}.
 *
 * @returns a provider that works in browsers, workerd and Node.
 */
export function webHashProvider(): HashProvider {
  const c = (globalThis as { crypto?: Crypto & { DigestStream?: DigestStreamCtor } }).crypto;
  const DigestStream = c?.DigestStream;
  const subtle = c?.subtle;
  return {
    algorithm: 'sha256',
    name: `${subtle ? 'webcrypto' : 'hash-wasm'}+${DigestStream ? 'digeststream' : 'hash-wasm'}`,
    digest: subtle ? (bytes) => subtleDigest(subtle, bytes) : hashWasmDigest,
    create: async () => (DigestStream ? digestStreamHash(DigestStream) : hashWasmHash()),
  };
}
