/**
 * Converts and reassembles whole byte arrays, for tests.
 */
import { jsKernel, loadCdcKernel } from '../../src/cdc/index.js';
import type { CdcKernel, ChunkerParams } from '../../src/cdc/types.js';
import type { IndexRecord } from '../../src/format/records.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { type ConvertResult, convert } from '../../src/pipeline/convert.js';
import { openIndex, readIndexRecords } from '../../src/pipeline/open-index.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { ChunkReader, ChunkWriter } from '../../src/store/types.js';
import { collect, readAll, streamOf } from './streams.js';

export const hash = nodeHashProvider();

/** Converts `bytes` (fed in pieces of `sizes`) and returns the index (a root unless `index: 'flat'`) and totals. */
export async function convertBytes(
  bytes: Uint8Array,
  store: ChunkWriter,
  options: {
    sizes?: number | number[];
    kernel?: 'wasm' | 'js' | CdcKernel;
    chunker?: Partial<ChunkerParams>;
    index?: 'chunked' | 'flat';
  } = {},
): Promise<{ index: Uint8Array; result: ConvertResult }> {
  const kernel =
    options.kernel === 'js'
      ? jsKernel
      : options.kernel === 'wasm' || !options.kernel
        ? loadCdcKernel()
        : options.kernel;
  const { index, done } = convert(streamOf(bytes, options.sizes), {
    store,
    hash,
    kernel,
    chunker: options.chunker,
    index: options.index,
  });
  const indexBytes = await collect(index);
  return { index: indexBytes, result: await done };
}

/** Rebuilds the tar of an index. */
export function reassembleBytes(
  index: Uint8Array,
  store: ChunkReader,
  sizes?: number,
): Promise<Uint8Array> {
  return collect(reassemble(streamOf(index, sizes), store, { hash }));
}

/** Decodes an index (root or flat) into its records. */
export function indexRecords(
  index: Uint8Array,
  store: ChunkReader = new MemoryStore(),
): Promise<IndexRecord[]> {
  return readAll(readIndexRecords(streamOf(index), store, { hash }));
}

/** The flat index bytes of an index (root or flat). */
export function flatIndex(index: Uint8Array, store: ChunkReader): Promise<Uint8Array> {
  return collect(openIndex(streamOf(index), store, { hash }));
}
