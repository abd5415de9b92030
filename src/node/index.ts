/**
 * The Node-only entry point, `layerdiff/node`: the filesystem store, node:crypto hashing,
 * file streams and extraction to a directory. Everything platform-neutral is in the main entry.
 *
 * @module
 */

export { type NodeChunkCodecOptions, nodeChunkCodec } from './chunk-codec.js';
export { checkEntryPath, type SafeEntryPath, type UnsafeEntryPath } from './entry-path.js';
export {
  DEFAULT_MAX_WARNINGS,
  type ExtractOptions,
  type ExtractReport,
  type ExtractWarning,
  type ExtractWarningCode,
  extract,
} from './extract.js';
export { DEFLATE_SUFFIX, FsStore, type FsStoreOptions, TMP_SUFFIX } from './fs-store.js';
export { type NodeHashOptions, nodeHashProvider } from './hash.js';
export { type AtomicFile, atomicFile, fileSource, READ_SIZE, stdoutSink } from './io.js';
