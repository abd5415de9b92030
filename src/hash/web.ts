/**
 * Platform-neutral hash providers: WebCrypto for one-shot digests, with workerd's
 * `crypto.DigestStream` or hash-wasm for incremental ones.
 *
 * @module
 */
import type { HashProvider, IncrementalHash } from './types.js';

/** workerd's non-standard streaming digest (absent elsewhere). */
interface DigestStreamLike extends WritableStream<Uint8Array> {
  readonly digest: Promise<ArrayBuffer>;
}
type DigestStreamCtor = new (algorithm: string) => DigestStreamLike;

function subtleDigest(bytes: Uint8Array): Promise<Uint8Array> {
  return crypto.subtle
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

async function hashWasmHash(): Promise<IncrementalHash> {
  // Loaded only where it is needed: the module embeds every hash-wasm algorithm, and merely
  // loading it costs a Node process some 14 MiB of resident memory.
  const { createSHA256 } = await import('hash-wasm');
  const hasher = await createSHA256();
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

/**
 * A {@link HashProvider} that needs only web-standard APIs: one-shot digests through
 * `crypto.subtle`, incremental digests through workerd's `crypto.DigestStream` where it
 * exists (native, no Wasm compilation) and through hash-wasm elsewhere.
 *
 * @returns a provider that works in browsers, workerd and Node.
 */
export function webHashProvider(): HashProvider {
  const DigestStream = (crypto as unknown as { DigestStream?: DigestStreamCtor }).DigestStream;
  return {
    algorithm: 'sha256',
    name: DigestStream ? 'webcrypto+digeststream' : 'webcrypto+hash-wasm',
    digest: subtleDigest,
    create: async () => (DigestStream ? digestStreamHash(DigestStream) : hashWasmHash()),
  };
}
