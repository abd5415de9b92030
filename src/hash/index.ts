export { crc32 } from './crc32.js';
export { digestsEqual, formatDigest, isDigest, parseDigest, SHA256_BYTES } from './digest.js';
export { createDigestTap, type DigestTap, type TapResult } from './tap.js';
export type { HashProvider, IncrementalHash } from './types.js';
export { webHashProvider } from './web.js';
