/**
 * The Node-only entry point, `layerdiff/node`: the filesystem stores (packs or a file per chunk), node:crypto hashing,
 * file streams and extraction to a directory. Everything platform-neutral is in the main entry.
 *
 * @module
 */

export { type NodeChunkCodecOptions, nodeChunkCodec } from './chunk-codec.js';
export { defaultDeflateEngines, nodeDeflateEngine } from './deflate.js';
export { checkEntryPath, type SafeEntryPath, type UnsafeEntryPath } from './entry-path.js';
export {
  DEFAULT_MAX_WARNINGS,
  type ExtractOptions,
  type ExtractReport,
  type ExtractWarning,
  type ExtractWarningCode,
  extract,
} from './extract.js';
export { FileError } from './file-error.js';
export {
  CORRUPT_SUFFIX,
  DEFLATE_SUFFIX,
  FsStore,
  type FsStoreOptions,
  LZ4_SUFFIX,
  TMP_SUFFIX,
} from './fs-store.js';
export { collectGarbage, type GarbageOptions, type GarbageReport } from './gc.js';
export { type NodeGunzipOptions, nodeGunzip } from './gunzip.js';
export {
  layerHashing,
  type NodeHashOptions,
  nodeHashOptionsFor,
  nodeHashProvider,
  stopHashWorker,
} from './hash.js';
export { nodeHttpFetch } from './http-fetch.js';
export {
  type AtomicFile,
  atomicFile,
  type FileSourceOptions,
  fileSource,
  nodeReadableSource,
  pipeToOutput,
  READ_SIZE,
  stdoutSink,
} from './io.js';
export {
  convertLayout,
  flattenImage,
  MAX_ROOT_BLOB,
  type OciConvertedLayer,
  type OciConvertedManifest,
  type OciConvertOptions,
  type OciConvertReport,
  type OciFlattenOptions,
} from './oci-convert.js';
export { type Image, jsonBytes, LayoutWriter, OciLayout, sha256 } from './oci-layout.js';
export {
  type OciRestoredLayer,
  type OciRestoredManifest,
  type OciRestoreOptions,
  type OciRestoreReport,
  type RestoredHow,
  restoreLayout,
} from './oci-restore.js';
export { layoutRoots } from './oci-roots.js';
export { DeflateWorkerError, offThreadDeflate } from './off-thread-deflate.js';
export {
  type OpenStoreOptions,
  openStore,
  STORE_LAYOUTS,
  type StoreLayout,
} from './open-store.js';
export { PACKS_DIR, PackStore, type PackStoreOptions } from './pack-store.js';
export {
  type AuthFileOptions,
  authFileCredentials,
  authFilePaths,
  normalizeAuthKey,
} from './registry-auth.js';
export {
  type RunningRegistry,
  type ServeRegistryOptions,
  serveRegistry,
} from './serve-registry.js';
export {
  MAX_LISTED_PROBLEMS,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
  verifyStore,
} from './verify.js';
export {
  DEFAULT_XATTRS_EXCLUDE,
  globMatch,
  type XattrFilter,
  xattrSelector,
} from './xattr-filter.js';
