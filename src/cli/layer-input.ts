/**
 * The layer a command reads (`convert`, `diff`), and the hashing that suits it: with the
 * worker thread, unless its first bytes say it is zstd (`nodeHashOptionsFor`); then the
 * worker the command line started early is stopped.
 *
 * @module
 */
import { readHead } from '../bytes-stream.js';
import { SNIFF_BYTES } from '../compress/detect.js';
import type { HashProvider } from '../hash/types.js';
import { nodeHashOptionsFor, nodeHashProvider, stopHashWorker } from '../node/hash.js';
import { fileSource } from '../node/io.js';

/**
 * Opens a layer (`-` for stdin) and looks at its first bytes.
 * @param path - the layer's path as given.
 * @returns the layer from its first byte, and the hash provider for it.
 */
export async function openLayer(
  path: string,
): Promise<{ layer: ReadableStream<Uint8Array>; hash: HashProvider }> {
  const source = fileSource(path, { blocking: true, recycle: true });
  const { head, whole } = await readHead(source, SNIFF_BYTES);
  const options = nodeHashOptionsFor(head);
  if (!options.worker) stopHashWorker();
  return { layer: whole, hash: nodeHashProvider(options) };
}
