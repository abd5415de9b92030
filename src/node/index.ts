/**
 * The Node-only entry point, `layerdiff/node`: the filesystem store, node:crypto hashing and
 * file streams. Everything platform-neutral is in the main entry.
 *
 * @module
 */
export { FsStore, type FsStoreOptions, TMP_SUFFIX } from './fs-store.js';
export { type NodeHashOptions, nodeHashProvider } from './hash.js';
export { type AtomicFile, atomicFile, fileSource, READ_SIZE, stdoutSink } from './io.js';
