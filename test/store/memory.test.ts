import { MemoryStore } from '../../src/store/memory.js';
import { storeConformance } from './conformance.js';

storeConformance('MemoryStore', async () => ({
  store: new MemoryStore(),
  cleanup: async () => {},
}));
