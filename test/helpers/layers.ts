/**
 * Converts and reassembles whole byte arrays, for tests.
 */
import { jsKernel, loadCdcKernel } from '../../src/cdc/index.js';
import type { CdcKernel, ChunkerParams } from '../../src/cdc/types.js';
import { createIndexDecoder } from '../../src/format/decoder.js';
import type { IndexRecord } from '../../src/format/records.js';
import { nodeHashProvider } from '../../src/node/hash.js';
import { type ConvertResult, convert } from '../../src/pipeline/convert.js';
import { reassemble } from '../../src/pipeline/reassemble.js';
import type { ChunkReader, ChunkWriter } from '../../src/store/types.js';
import { collect, readAll, streamOf } from './streams.js';

export const hash = nodeHashProvider();

/** Converts `bytes` (fed in pieces of `sizes`) and returns the index bytes and totals. */
export async function convertBytes(
  bytes: Uint8Array,
  store: ChunkWriter,
  options: {
    sizes?: number | number[];
    kernel?: 'wasm' | 'js' | CdcKernel;
    chunker?: Partial<ChunkerParams>;
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

/** Decodes index bytes into their records. */
export function indexRecords(index: Uint8Array): Promise<IndexRecord[]> {
  return readAll(streamOf(index).pipeThrough(createIndexDecoder()));
}
