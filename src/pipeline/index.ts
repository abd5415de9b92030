export { BufferPool } from './buffer-pool.js';
export {
  type BuildStats,
  createRecordBuilder,
  entryMeta,
  REFS_PER_RECORD,
  type RecordBuilderOptions,
  type Trailer,
} from './build-records.js';
export { type BodyChunkerOptions, createBodyChunker } from './chunk-bodies.js';
export {
  type Converter,
  type ConvertOptions,
  type ConvertResult,
  convert,
  createConverter,
} from './convert.js';
export { type ChunkDigesterOptions, createChunkDigester } from './digest-chunks.js';
export { createOrderedMap } from './ordered.js';
export { type ReassembleOptions, reassemble } from './reassemble.js';
export { type ChunkWriterOptions, createChunkWriter } from './store-chunks.js';
export type * from './tokens.js';
export { OPAQUE_WHITEOUT, parseWhiteout, WHITEOUT_PREFIX, type Whiteout } from './whiteout.js';
