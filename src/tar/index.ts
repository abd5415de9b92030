/**
 * Tar support: a pure header codec and a streaming tokenizer that splits a tar into tokens
 * which reassemble to the original bytes exactly.
 *
 * @module
 */

export {
  applyGlobalPax,
  BLOCK_SIZE,
  decodeGnuSparseBlock,
  decodeHeaderBlock,
  encodeHeader,
  encodePaxRecords,
  entryKind,
  formatPaxTime,
  headerChecksums,
  isExtensionType,
  isHeaderOnlyType,
  isZeroBlock,
  type PaxRecord,
  paddingSize,
  parseNumericField,
  parsePaxRecords,
  parsePaxTime,
  resolveEntry,
  type TarExtensions,
  type TarHeaderBlock,
  type TarHeaderInput,
} from './header.js';
export {
  createTarTokenizer,
  DEFAULT_MAX_HEADER_BYTES,
  type TarTokenizerOptions,
} from './tokenizer.js';
export type {
  TarEntry,
  TarEntryKind,
  TarHeaderFormat,
  TarSparse,
  TarTime,
  TarToken,
} from './types.js';
