export {
  type BlobSummary,
  createDecompressor,
  type Decompressor,
  type DecompressorOptions,
} from './decompress.js';
export { detectCompression, SNIFF_BYTES } from './detect.js';
export { createZstdDecoder, type ZstdDecoderOptions } from './zstd.js';
export { ZstdWalker } from './zstd-walker.js';
