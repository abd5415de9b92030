export {
  ANNOTATIONS,
  jsonBytes,
  layerAnnotations,
  MAX_ROOT_BLOB,
  type OciLayerRecord,
  originalIndexOf,
  originalManifestOf,
  parseLayerRecord,
} from './chunked.js';
export { type GzipHeader, gzipTrailer, parseGzipHeader } from './gzip-header.js';
export {
  coreDeflateEngines,
  createGzipWriter,
  type DeflateEngine,
  type DeflateParams,
  findGzipParams,
  GO_FLATE_ENGINE,
  type GzipParams,
  type GzipSearchOptions,
  type GzipSearchResult,
  goDeflateEngine,
  MAX_GZIP_HEADER,
  PAKO_ENGINE,
  PGZIP_ENGINE,
  pakoDeflateEngine,
  pgzipDeflateEngine,
} from './gzip-reproduce.js';
export {
  type Image,
  type LayoutFiles,
  LayoutReader,
  MAX_INDEX_DEPTH,
  readTops,
} from './layout-reader.js';
export * from './media-types.js';
export {
  blobPath,
  checkDigest,
  checkLayoutFile,
  DEFAULT_OCI_LIMITS,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type OciLimits,
  parseConfigDiffIds,
  parseDescriptor,
  parseIndex,
  parseJson,
  parseManifest,
  REF_NAME_ANNOTATION,
  refName,
} from './parse.js';
export {
  type LayerToRestore,
  type OciRestoredIndex,
  type OciRestoredLayer,
  type OciRestoredManifest,
  type OciRestoreReport,
  planRestore,
  type RestoredHow,
  type RestoreSink,
} from './restore-plan.js';
