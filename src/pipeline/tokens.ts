/**
 * Token types flowing between the conversion stages after the tar tokenizer.
 *
 * @module
 */
import type { TarEntry, TarToken } from '../tar/types.js';

/** An entry header, passed through from the tar tokenizer. */
export interface HeaderToken {
  type: 'header';
  entry: TarEntry;
  raw: Uint8Array;
  offset: number;
}

/** The end of an entry body, with the padding found after it. */
export interface EndToken {
  type: 'end';
  /**
   * The padding's bytes, the stage's own (not a view of its input); zero padding shares a
   * buffer with other tokens' (see {@link TarToken}: copy it before transferring it).
   */
  padding: Uint8Array;
}

/** Marks the start of the bytes after the last entry; chunks that follow are the tail's. */
export interface TailToken {
  type: 'tail';
}

/**
 * A chunk of a body or of the tail, cut but not yet digested. Its bytes are a view of a block
 * shared with other chunks (see `ChunkBlocks`): copy them before keeping them long (a
 * kept view keeps its whole block) or transferring their buffer (which would empty the
 * block's other chunks).
 */
export interface ChunkToken {
  type: 'chunk';
  bytes: Uint8Array;
}

/** A chunk with its digest. */
export interface DigestedChunkToken {
  type: 'chunk';
  bytes: Uint8Array;
  digest: Uint8Array;
}

/** A chunk after the store has seen it: the bytes are dropped, the reference stays. */
export interface StoredChunkToken {
  type: 'chunk';
  digest: Uint8Array;
  length: number;
  /** True when this conversion added the chunk to the store. */
  isNew: boolean;
}

/** Tokens out of the body chunker. */
export type ChunkedToken = HeaderToken | EndToken | TailToken | ChunkToken;
/** Tokens out of the chunk digester. */
export type DigestedToken = HeaderToken | EndToken | TailToken | DigestedChunkToken;
/** Tokens out of the chunk writer. */
export type StoredToken = HeaderToken | EndToken | TailToken | StoredChunkToken;
