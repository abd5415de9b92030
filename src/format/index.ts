export { decodeRecord, encodeRecord } from './codec.js';
export { createIndexDecoder, type IndexDecoderOptions } from './decoder.js';
export {
  createDiffDecoder,
  DIFF_MAGIC,
  DIFF_VERSION,
  type DiffFrame,
  diffHeader,
  encodeChunkFrame,
  encodeRootFrame,
} from './diff.js';
export {
  createIndexEncoder,
  encodeFrame,
  INDEX_MAGIC,
  IndexFrames,
  MAX_INDEX_BYTES,
  MAX_RECORD_BYTES,
} from './encoder.js';
export { IndexGrammar, paddingLength } from './grammar.js';
export * from './records.js';
export {
  decodeRoot,
  encodeRoot,
  INDEX_CHUNKER_PARAMS,
  type IndexRoot,
  isRoot,
  MAX_INDEX_LEVELS,
  PACKED_REF_BYTES,
  packRef,
  packRefs,
  ROOT_MAGIC,
  ROOT_MAX_REFS,
  unpackRef,
} from './root.js';
