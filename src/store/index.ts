export { MemoryStore } from './memory.js';
export { readChunk } from './read-chunk.js';
export type { ChunkReader, ChunkStore, ChunkWriter } from './types.js';
