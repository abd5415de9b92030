/**
 * `restoreLayout`: the chunked form of an image (docs/OCI.md) and its chunk store in, the
 * original OCI image layout out. Every diff_id and config is kept; a compressed layer keeps its
 * blob digest only when recompressing it with the recorded parameters gives exactly that
 * digest (checked); otherwise it is written uncompressed under a new manifest, and the report
 * says which digests were kept and which changed. The walk is `planRestore`'s; this module
 * writes what it hands over into a layout directory.
 *
 * @module
 */
import type { HashProvider } from '../hash/types.js';
import type { DeflateEngine } from '../oci/gzip-reproduce.js';
import type { OciLimits } from '../oci/parse.js';
import { restoreLayer } from '../oci/restore-layer.js';
import {
  type OciRestoredIndex,
  type OciRestoredLayer,
  type OciRestoredManifest,
  type OciRestoreReport,
  planRestore,
  type RestoredHow,
} from '../oci/restore-plan.js';
import type { ChunkReader } from '../store/types.js';
import { stopOnAbort, TurnsByKey } from '../work-group.js';
import { defaultDeflateEngines } from './deflate.js';
import { nodeHashProvider } from './hash.js';
import { LayoutWriter, OciLayout } from './oci-layout.js';
import { offThreadDeflate } from './off-thread-deflate.js';

export type {
  OciRestoredIndex,
  OciRestoredLayer,
  OciRestoredManifest,
  OciRestoreReport,
  RestoredHow,
};

/** Options of {@link restoreLayout}. */
export interface OciRestoreOptions {
  /** The chunk store the layers were converted into. */
  store: ChunkReader;
  /** Where the restored layout is written; must not exist. */
  out: string;
  /** Only the manifest with this tag. @default every manifest */
  ref?: string;
  /** Hashing. @default nodeHashProvider() */
  hash?: HashProvider;
  /**
   * Engines available for recompressing gzip layers. @default
   * `defaultDeflateEngines().map(offThreadDeflate)`: recompression on worker threads
   */
  engines?: DeflateEngine[];
  /** Size limits on JSON blobs. */
  limits?: Partial<OciLimits>;
  /**
   * Layers restored at once, started in each image's order. Gzip layers are recompressed on
   * worker threads (with the default engines), so several at once use every core. When one
   * fails, the others stop at once. @default 1
   */
  concurrency?: number;
}

/**
 * Restores an OCI image layout from its chunked form. Configs, and the original manifests and
 * `index.json` when every layer keeps its digest, come back byte for byte; uncompressed layers
 * are rebuilt exactly (diff_id checked); gzip layers are recompressed with the recorded
 * parameters and kept only when the result has the original digest. Any other layer is written
 * uncompressed (its digest is then its diff_id, so the config still matches) under a new
 * manifest, and a new `index.json` lists it.
 *
 * @param src - the chunked layout's directory.
 * @param options - store, output, tag and engines.
 * @returns per manifest and layer: which digests were kept and which changed, and why.
 * @throws typed OCI errors for a malformed or inconsistent chunked layout, and chunk errors
 * (`ERR_CHUNK_NOT_FOUND`, `ERR_CHUNK_DIGEST`, `ERR_LAYER_DIGEST`) from the store. On failure
 * nothing is left at `options.out`.
 */
export async function restoreLayout(
  src: string,
  options: OciRestoreOptions,
): Promise<OciRestoreReport> {
  const hash = options.hash ?? nodeHashProvider();
  const engines = options.engines ?? defaultDeflateEngines().map(offThreadDeflate);
  const layout = await OciLayout.open(src, options.limits);
  const writer = await LayoutWriter.create(options.out);
  // A layer blob written once is not written again: two layers whose fallbacks share a
  // diff_id, one after the other or at once (the second then waits for the first).
  const written = new Set<string>();
  const turns = new TurnsByKey();
  try {
    const { report, index } = await planRestore(
      layout,
      {
        concurrency: options.concurrency ?? 1,
        writeBlob: (bytes) => writer.writeBlob(bytes),
        copyBlob: (d) => writer.copyFrom(layout, d),
        layer: (layer, signal) =>
          restoreLayer(
            layer,
            {
              writeExpected: (open, digest, size) =>
                turns.run(
                  digest,
                  async () => {
                    if (written.has(digest)) return { digest, size, kept: true };
                    // Another layer's failure stops this one's stream at once.
                    const w = await writer.writeBlobStream(
                      stopOnAbort(open(), signal),
                      (d, n) => d === digest && n === size,
                    );
                    if (w.kept) written.add(digest);
                    return w;
                  },
                  signal,
                ),
            },
            { store: options.store, hash, engines },
          ),
      },
      options.ref,
    );
    await writer.writeTop('index.json', index);
    await writer.writeTop('oci-layout', layout.layoutFile);
    await writer.commit();
    return report;
  } catch (err) {
    await writer.discard();
    throw err;
  }
}
