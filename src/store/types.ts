/**
 * Chunk store capabilities, split by what a caller needs: reading (reassembly) or writing
 * (conversion). Chunks are addressed by their digest string, `sha256:<hex>`, over the
 * uncompressed chunk bytes.
 *
 * @module
 */

/** Read access to a chunk store. */
export interface ChunkReader {
  /**
   * Returns the bytes of a chunk.
   * @throws {@link ChunkNotFoundError} when the store lacks the chunk.
   * @throws {@link ChunkDigestError} when a store that verifies reads finds corrupt bytes.
   * @throws {@link UsageError} when `digest` is not `sha256:<64 lowercase hex>` (so no store
   * maps a crafted string such as `sha256:../x` to a path). `has` and `put` throw it too.
   * @param into - a buffer the chunk may be read into when it fits (the result is then a view
   *   of it), so that a reader can reuse its buffers. A store may ignore it, or use it on the way
   *   (its contents afterwards are unspecified).
   */
  get(digest: string, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * True when `get` verifies every chunk against its digest before returning it, so callers
   * need not hash it again. A store must not claim this unless it always holds.
   */
  readonly verifiesReads?: boolean;
}

/** Options of {@link ChunkWriter.put}. */
export interface PutOptions {
  /**
   * The caller is done with `bytes`: the store may write over them (a pack store with the LZ4
   * codec compresses into them instead of into memory of its own; other codecs and stores
   * leave them). The caller must not read them afterwards.
   * @default false
   */
  scratch?: boolean;
}

/** Write access to a chunk store. */
export interface ChunkWriter {
  /** Tells whether the store holds a chunk. */
  has(digest: string): Promise<boolean>;
  /**
   * Stores a chunk under its digest. The caller guarantees that `digest` is the digest of
   * `bytes`. Storing a chunk the store already holds is a no-op. The store must not keep a
   * reference to `bytes` once the returned promise settles (the converter reuses the buffer).
   * @param options - whether the store may write over `bytes`.
   * @returns true when the chunk was newly stored, false when it was already there.
   * @throws {@link UsageError} for a chunk over 16 MiB (`MAX_CHUNK_MAX`), before writing anything.
   */
  put(digest: string, bytes: Uint8Array, options?: PutOptions): Promise<boolean>;
  /**
   * Makes every chunk `put` so far durable as the store defines it and visible to other readers
   * of the store (a pack store publishes its open pack). Pipelines that write chunks call it
   * before they report success, so an index is never handed out before its chunks. Stores
   * that publish each chunk as `put` settles need not have it.
   */
  flush?(): Promise<void>;
}

/** A store that can be both read and written. */
export type ChunkStore = ChunkReader & ChunkWriter;
