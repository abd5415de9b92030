export { type ApplyOptions, type ApplyResult, applyDiff } from './apply.js';
export { BufferPool } from './buffer-pool.js';
export {
  type BuildStats,
  createRecordBuilder,
  RecordBuilder,
  type RecordBuilderOptions,
  type Trailer,
} from './build-records.js';
export {
  type ChangeAspect,
  type ChangesOptions,
  type ChangesResult,
  changes,
  type FileChange,
  MAX_CHANGES_CHUNKS,
  MAX_CHANGES_ENTRIES,
} from './changes.js';
export { ChunkBlocks } from './chunk-blocks.js';
export { type BodyChunkerOptions, createBodyChunker } from './chunk-bodies.js';
export {
  createIndexChunker,
  type IndexChunkerOptions,
  type IndexChunkStats,
} from './chunk-index.js';
export {
  createTarChunker,
  type TarChunkerOptions,
  type TokenSink,
  tarChunkerTransformer,
} from './chunk-tar.js';
export {
  type Converter,
  type ConvertOptions,
  type ConvertResult,
  convert,
  createConverter,
} from './convert.js';
export { createDiff, type DiffOptions, type DiffResult } from './diff.js';
export { type ChunkDigesterOptions, createChunkDigester } from './digest-chunks.js';
export {
  type FlattenOptions,
  type FlattenWarning,
  type FlattenWarningCode,
  flatten,
  type IndexSource,
  MAX_FLATTEN_ENTRIES,
} from './flatten.js';
export {
  type IndexChunk,
  indexChunks,
  type OpenIndexOptions,
  openIndex,
  readIndexRecords,
} from './open-index.js';
export { type PacedController, type PacedTransformer, pacedThrough } from './paced.js';
export { type ReassembleOptions, reassemble } from './reassemble.js';
export { type ChunkStorerOptions, createChunkStorer } from './store-chunks.js';
export type * from './tokens.js';
export { OPAQUE_WHITEOUT, parseWhiteout, WHITEOUT_PREFIX, type Whiteout } from './whiteout.js';
