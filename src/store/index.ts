export { MemoryStore } from './memory.js';
export {
  decodeIndexEntry,
  decodePackIndex,
  decodeRecordHeader,
  encodePackIndex,
  encodeRecordHeader,
  INDEX_ENTRY_BYTES,
  MAX_PACK_ENTRIES,
  PACK_INDEX_MAGIC,
  PACK_MAGIC,
  type PackEntry,
  type PackIndex,
  PackIndexBuilder,
  PackIndexCheck,
  RECORD_HEADER_BYTES,
  type RecordHeader,
  visitPackIndex,
} from './pack-format.js';
export { readChunk } from './read-chunk.js';
export type { ChunkReader, ChunkStore, ChunkWriter, PutOptions } from './types.js';
