// @ts-check
/**
 * An OCI image layout of one image with one layer, for the benchmarks that convert, serve or
 * restore images: the layer blob is a hard link to a file already on disk.
 */

import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `sha256:<hex>` of a file, by openssl. @param {string} file */
export const sha256File = (file) =>
  `sha256:${execFileSync('openssl', ['dgst', '-sha256', '-r', file], { encoding: 'utf8' }).split(' ')[0]}`;

/**
 * Writes the layout afresh: `oci-layout`, `index.json` (the image tagged `v1`), a config
 * naming `diffId`, a manifest, and the layer.
 * @param {string} layout - the layout's directory (replaced).
 * @param {string} blob - the layer's file.
 * @param {{ mediaType: string, diffId: string }} layer - its media type and diff_id.
 * @returns {string} the layer's digest.
 */
export function writeImageLayout(layout, blob, layer) {
  rmSync(layout, { recursive: true, force: true });
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const digest = layer.mediaType.endsWith('.tar') ? layer.diffId : sha256File(blob);
  linkSync(blob, join(blobs, digest.slice(7)));
  /** Writes a JSON blob; returns its descriptor fields. */
  const put = (/** @type {unknown} */ value) => {
    const bytes = Buffer.from(JSON.stringify(value));
    const file = join(layout, 'blob.tmp');
    writeFileSync(file, bytes);
    const d = sha256File(file);
    execFileSync('mv', [file, join(blobs, d.slice(7))]);
    return { digest: d, size: bytes.length };
  };
  const config = put({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  });
  const manifest = put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: layer.mediaType, digest, size: statSync(blob).size }],
  });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  return digest;
}
