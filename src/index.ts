/**
 * layerdiff: OCI layers as content-defined chunks, rebuilt byte for byte through Web Streams.
 * This entry is platform-neutral (Node 20+, browsers, workerd); Node-only pieces are in
 * `layerdiff/node`.
 *
 * @module
 */
export * from './bundle/index.js';
export { readBytes, readHead, streamOfBytes } from './bytes-stream.js';
export * from './cdc/index.js';
export * from './compress/index.js';
export * from './errors.js';
export * from './events/index.js';
export * from './format/index.js';
export * from './hash/index.js';
export { giveBack, isLent, lend } from './lend.js';
export * from './oci/index.js';
export * from './pipeline/index.js';
export * from './registry/index.js';
export * from './store/index.js';
export * from './tar/index.js';
