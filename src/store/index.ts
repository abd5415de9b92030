export { MemoryStore } from './memory.js';
export type { ChunkReader, ChunkStore, ChunkWriter } from './types.js';
