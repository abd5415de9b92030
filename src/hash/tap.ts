/**
 * A pass-through stream that digests every byte flowing through it.
 *
 * @module
 */
import type { HashProvider, IncrementalHash } from './types.js';

/** Digest and byte count of everything that went through a tap. */
export interface TapResult {
  /** Raw digest. */
  digest: Uint8Array;
  /** Bytes seen. */
  size: number;
}

/** A `TransformStream`-shaped pair that passes bytes through unchanged, plus its result. */
export interface DigestTap {
  writable: WritableStream<Uint8Array>;
  readable: ReadableStream<Uint8Array>;
  /**
   * Resolves after the last byte has passed; rejects when hashing fails; stays pending if the
   * stream never finishes.
   */
  done: Promise<TapResult>;
}

/**
 * Creates a pass-through stream that hashes what flows through it (the diff_id of a tar).
 * @param hash - the hash provider.
 * @returns the stream pair and a promise of the digest.
 * @example
 * ```ts
 * const tap = createDigestTap(webHashProvider());
 * const out = tar.pipeThrough(tap);
 * const { digest, size } = await tap.done;
 * ```
 */
export function createDigestTap(hash: HashProvider): DigestTap {
  let hasher: IncrementalHash;
  let size = 0;
  let resolve!: (r: TapResult) => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<TapResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  done.catch(() => {});
  /** A failed hash fails `done` too, not only the stream. */
  const fail = (err: unknown): never => {
    reject(err);
    throw err;
  };
  const ts = new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      hasher = await hash.create();
    },
    transform(bytes, controller) {
      size += bytes.length;
      // No promise where the hash takes the bytes at once: one per piece would cost more.
      const wait = hasher.update(bytes);
      if (wait) return wait.then(() => controller.enqueue(bytes), fail);
      controller.enqueue(bytes);
    },
    async flush() {
      try {
        resolve({ digest: await hasher.digest(), size });
      } catch (err) {
        reject(err);
        throw err;
      }
    },
  });
  return { writable: ts.writable, readable: ts.readable, done };
}
