/**
 * The hashing capability every pipeline stage is given. Implementations differ by runtime
 * (node:crypto, WebCrypto, workerd's `crypto.DigestStream`, hash-wasm), never by result.
 *
 * @module
 */

/** An incremental hash over one message. Call {@link IncrementalHash.digest} once, at the end. */
export interface IncrementalHash {
  /** Adds bytes to the message. The caller must not modify `bytes` until the returned promise (if any) settles. */
  update(bytes: Uint8Array): void | Promise<void>;
  /** Finishes the message and returns the raw digest. */
  digest(): Promise<Uint8Array>;
}

/** A source of SHA-256 hashing: one-shot for chunks, incremental for whole layers. */
export interface HashProvider {
  /** The digest algorithm, as written in `<algorithm>:<hex>` digest strings. */
  readonly algorithm: 'sha256';
  /** Which implementation this is, for diagnostics and benchmarks. */
  readonly name: string;
  /** Hashes one whole message (a chunk). */
  digest(bytes: Uint8Array): Promise<Uint8Array>;
  /** Starts an incremental hash (a layer's diff_id, a blob digest). */
  create(): Promise<IncrementalHash>;
}
