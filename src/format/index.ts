export { decodeRecord, encodeRecord } from './codec.js';
export { createIndexDecoder, type IndexDecoderOptions } from './decoder.js';
export { createIndexEncoder, encodeFrame, INDEX_MAGIC, MAX_RECORD_BYTES } from './encoder.js';
export { IndexGrammar, paddingLength } from './grammar.js';
export * from './records.js';
