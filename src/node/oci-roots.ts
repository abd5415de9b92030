/**
 * `layoutRoots`: the index roots a chunked OCI layout (what `oci convert` writes) keeps as its
 * layers, so that a garbage collection can keep every image of a layout.
 *
 * @module
 */
import { isIndexMediaType, LAYERDIFF_ROOT } from '../oci/media-types.js';
import type { Descriptor, OciLimits } from '../oci/parse.js';
import { MAX_ROOT_BLOB } from './oci-convert.js';
import { OciLayout } from './oci-layout.js';

/**
 * Reads the root of every chunked layer of every image a layout lists (nested indexes
 * followed), each once, checked against its descriptor.
 * @param dir - the layout's directory.
 * @param limits - size limits of its JSON files.
 * @returns the roots' bytes (a few KB each).
 * @throws what {@link OciLayout} throws for a malformed layout or a missing or damaged blob.
 */
export async function layoutRoots(
  dir: string,
  limits: Partial<OciLimits> = {},
): Promise<Uint8Array[]> {
  const layout = await OciLayout.open(dir, limits);
  const roots: Uint8Array[] = [];
  const seen = new Set<string>();
  const walk = async (d: Descriptor, depth: number): Promise<void> => {
    if (seen.has(`${d.mediaType} ${d.digest}`)) return;
    seen.add(`${d.mediaType} ${d.digest}`);
    if (isIndexMediaType(d.mediaType)) {
      for (const c of (await layout.readIndex(d, depth)).index.manifests) await walk(c, depth + 1);
      return;
    }
    for (const layer of (await layout.readManifest(d)).manifest.layers) {
      if (layer.mediaType !== LAYERDIFF_ROOT || seen.has(layer.digest)) continue;
      seen.add(layer.digest);
      roots.push(await layout.readBlob(layer, MAX_ROOT_BLOB));
    }
  };
  for (const d of layout.select()) await walk(d, 0);
  return roots;
}
