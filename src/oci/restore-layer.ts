/**
 * `restoreLayer`: one layer of a chunked image back as its original blob (rebuilt from the
 * chunks, recompressed where its gzip parameters were recorded) or, where that cannot be,
 * uncompressed. Where the blob goes is the caller's: a layout directory (`oci restore`) or a
 * registry (`oci push`).
 *
 * @module
 */
import { streamOfBytes } from '../bytes-stream.js';
import { OciDigestError } from '../errors.js';
import type { HashProvider } from '../hash/types.js';
import { reassemble } from '../pipeline/reassemble.js';
import type { ChunkReader } from '../store/types.js';
import { createGzipWriter, type DeflateEngine } from './gzip-reproduce.js';
import {
  type LayerToRestore,
  layerMethod,
  type OciRestoredLayer,
  restoredLayer,
} from './restore-plan.js';

/** Where {@link restoreLayer} writes a blob. */
export interface ExpectedBlobWriter {
  /**
   * Writes the stream `open` gives as a blob that should hash to `digest` and have `size`
   * bytes. It is kept only then; otherwise nothing of it is kept, and `kept` is false. A writer
   * may keep a blob it already has without opening the stream, and may open it again (each
   * call makes the blob anew from its start: an upload resumed).
   * @returns the digest and size the stream had (`digest` and `size` when not read).
   */
  writeExpected(
    open: () => ReadableStream<Uint8Array>,
    digest: string,
    size: number,
  ): Promise<{ digest: string; size: number; kept: boolean }>;
}

/**
 * Restores a layer: as it was (an uncompressed layer, or a gzip layer recompressed with the
 * recorded parameters and engine, kept only when it gives the original digest), or else
 * uncompressed, under its diff_id.
 * @param layer - the layer, as the restore walk hands it over.
 * @param writer - where its blob goes.
 * @param options - the chunk store, hashing, and the deflate engines at hand.
 * @returns what it became, and why when it changed.
 * @throws {@link OciDigestError} when the rebuilt tar is not the recorded one, and chunk
 * errors from the store.
 */
export async function restoreLayer(
  { rootBytes, record, end }: LayerToRestore,
  writer: ExpectedBlobWriter,
  options: { store: ChunkReader; hash: HashProvider; engines: DeflateEngine[] },
): Promise<OciRestoredLayer> {
  const tar = (recycle = false) =>
    reassemble(streamOfBytes(rootBytes), options.store, { hash: options.hash, recycle });
  const method = layerMethod(record, options.engines);
  if (method.how === 'as-is') {
    const w = await writer.writeExpected(() => tar(), record.digest, record.size);
    if (!w.kept) throw new OciDigestError(record.digest, `rebuilt layer hashes to ${w.digest}`);
    return restoredLayer(record, w, 'as-is');
  }
  let reason: string;
  if (method.how === 'recompressed') {
    const { params, engine } = method;
    // An engine that copies its input lets the chunk buffers be reused: one that makes
    // little garbage of its own would otherwise leave tens of MiB of them to the collector.
    const recycle = engine.copiesInput === true;
    const w = await writer.writeExpected(
      () => tar(recycle).pipeThrough(createGzipWriter(params, engine, { giveBack: recycle })),
      record.digest,
      record.size,
    );
    if (w.kept) return restoredLayer(record, w, 'recompressed');
    reason = `recompressing with ${params.engine} level ${params.level} gave ${w.digest}`;
  } else {
    reason = method.reason;
  }
  const w = await writer.writeExpected(() => tar(), record.diffId, end.size);
  if (!w.kept) {
    throw new OciDigestError(
      record.digest,
      `rebuilt tar hashes to ${w.digest}, not ${record.diffId}`,
    );
  }
  return restoredLayer(record, w, 'uncompressed', reason);
}
