export {
  type BundleCompression,
  type BundleEntryInfo,
  type CreateBundleOptions,
  createBundle,
} from './create-bundle.js';
export {
  BUNDLE_CHUNK_PREFIX,
  BUNDLE_INDEX_ENTRY,
  type BundleEntryName,
  chunkEntryName,
  MAX_BUNDLE_CHUNK_BYTES,
  MAX_BUNDLE_INDEX_BYTES,
  parseEntryName,
} from './layout.js';
export {
  type Bundle,
  type BundleSource,
  type OpenBundleOptions,
  openBundle,
} from './open-bundle.js';
export { type UnbundleOptions, type UnbundleResult, unbundle } from './unbundle.js';
