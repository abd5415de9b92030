export {
  type ChunkCodec,
  type ChunkCoding,
  type EncodedChunk,
  webChunkCodec,
  webDecode,
} from './chunk-codec.js';
export {
  type BlobSummary,
  createDecompressor,
  type Decompressor,
  type DecompressorOptions,
  type GunzipFactory,
  webGunzip,
} from './decompress.js';
export { detectCompression, SNIFF_BYTES } from './detect.js';
export { INCOMPRESSIBLE_BITS, looksIncompressible, sampleEntropy } from './entropy.js';
export { createZstdDecoder, type ZstdDecoderOptions } from './zstd.js';
export { ZstdWalker } from './zstd-walker.js';
