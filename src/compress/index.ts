export {
  CHUNK_CODINGS,
  type ChunkCodec,
  type ChunkCoding,
  decodeWithoutInflate,
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
export { decodeLz4Block } from './lz4-block.js';
export {
  type LoadLz4CodecOptions,
  Lz4Kernel,
  loadLz4Codec,
  lz4ChunkCodec,
} from './lz4-codec.js';
export { createZstdDecoder, type ZstdDecoderOptions } from './zstd.js';
export {
  type ZstdBlockSink,
  type ZstdFrame,
  type ZstdFrameEnd,
  ZstdWalker,
} from './zstd-walker.js';
