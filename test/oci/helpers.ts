/**
 * Helpers for the OCI tests: image layouts written by the test itself (blobs, config,
 * manifests, index.json), gzip made by Python, and reading a layout's files back.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256 } from '../helpers/streams.js';

/** One layer of a hand-built image: its tar, and how to store it. */
export interface LayerSpec {
  tar: Uint8Array;
  /** `none`, or gzip by Python at a level (with `name`, an FNAME header field), or a given blob. */
  compress: 'none' | { python: number; name?: string } | { blob: Uint8Array; mediaType: string };
}

const enc = new TextEncoder();

/** gzip by Python's `gzip` module (system zlib), with a fixed mtime and optional FNAME. */
export function pythonGzip(bytes: Uint8Array, level: number, name?: string): Uint8Array {
  const script = `
import gzip, io, sys
data = sys.stdin.buffer.read()
out = io.BytesIO()
with gzip.GzipFile(filename=${JSON.stringify(name ?? '')}, mode='wb', fileobj=out, compresslevel=${level}, mtime=1700000000) as f:
    f.write(data)
sys.stdout.buffer.write(out.getvalue())
`;
  return new Uint8Array(
    execFileSync('python3', ['-c', script], { input: bytes, maxBuffer: 1 << 30 }),
  );
}

/**
 * gzip by GNU gzip (level 6 unless given), without name or mtime: output that no engine here
 * reproduces, once a file is large enough to differ from zlib's.
 */
export function gnuGzip(bytes: Uint8Array, level = 6): Uint8Array {
  return new Uint8Array(
    execFileSync('gzip', [`-${level}`, '-n', '-c'], { input: bytes, maxBuffer: 1 << 30 }),
  );
}

/** Writes a blob into a layout; returns its descriptor fields. */
export function putBlob(layout: string, bytes: Uint8Array): { digest: string; size: number } {
  const digest = sha256(bytes);
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
  return { digest, size: bytes.length };
}

/** Writes a JSON blob, pretty-printed (so byte-exact restores are not an accident of form). */
export function putJson(layout: string, value: unknown): { digest: string; size: number } {
  return putBlob(layout, enc.encode(`${JSON.stringify(value, null, 3)}\n`));
}

/**
 * Builds an image layout: one manifest per image, tagged, with its own config.
 * @returns the manifest descriptors, in order.
 */
export function buildLayout(
  layout: string,
  images: Array<{ tag: string; layers: LayerSpec[] }>,
  extraIndex: Record<string, unknown> = {},
): Array<{ mediaType: string; digest: string; size: number }> {
  mkdirSync(layout, { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion": "1.0.0"}');
  const manifests = images.map(({ tag, layers }) => {
    const descriptors = layers.map((l) => {
      if (l.compress === 'none') {
        return { mediaType: 'application/vnd.oci.image.layer.v1.tar', ...putBlob(layout, l.tar) };
      }
      if ('python' in l.compress) {
        const gz = pythonGzip(l.tar, l.compress.python, l.compress.name);
        return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...putBlob(layout, gz) };
      }
      return { mediaType: l.compress.mediaType, ...putBlob(layout, l.compress.blob) };
    });
    const config = putJson(layout, {
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin'], Labels: { image: tag } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l.tar)) },
      history: layers.map(() => ({ created_by: 'test' })),
    });
    const manifest = putJson(layout, {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: descriptors,
      annotations: { 'org.example.built-by': 'layerdiff tests' },
    });
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...manifest,
      annotations: { 'org.opencontainers.image.ref.name': tag },
    };
  });
  writeFileSync(
    join(layout, 'index.json'),
    `${JSON.stringify({ schemaVersion: 2, manifests, ...extraIndex }, null, 2)}\n`,
  );
  return manifests;
}

/** Every file of a layout: relative path to its bytes, as hex digests. */
export function layoutFiles(layout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of readdirSync(layout, { recursive: true, withFileTypes: true })) {
    if (!d.isFile()) continue;
    const path = join(d.parentPath ?? d.path, d.name);
    out[path.slice(layout.length + 1)] = sha256(readFileSync(path));
  }
  return out;
}

/** Files in a directory tree, counted (for store growth). */
export function countFiles(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile())
    .length;
}

/** Reads a layout's JSON blob. */
export function readJsonBlob(layout: string, digest: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
}

/** A platform of an image index entry. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/**
 * Builds a multi-platform image as buildx writes one: a nested image index (tagged `tag` in
 * `index.json`) listing one manifest per platform and an in-toto attestation manifest for the
 * first (platform `unknown/unknown`, a layer that is not an image layer).
 * @returns the nested index's descriptor and the manifests it lists, in order.
 */
export function buildMultiPlatform(
  layout: string,
  images: Array<{ platform: Platform; layers: LayerSpec[] }>,
  options: { tag?: string; mediaType?: string } = {},
): {
  index: { mediaType: string; digest: string; size: number };
  manifests: Array<{ mediaType: string; digest: string; size: number; platform: Platform }>;
} {
  const built = buildLayout(
    layout,
    images.map((image, i) => ({ tag: `image-${i}`, layers: image.layers })),
  );
  const manifests = built.map((m, i) => ({
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    platform: images[i]!.platform,
  }));
  const statement = putJson(layout, {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [{ name: 'image', digest: { sha256: manifests[0]!.digest.slice(7) } }],
  });
  const config = putJson(layout, {
    architecture: 'unknown',
    os: 'unknown',
    config: {},
    rootfs: { type: 'layers', diff_ids: [statement.digest] },
  });
  const attestation = putJson(layout, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [
      {
        mediaType: 'application/vnd.in-toto+json',
        ...statement,
        annotations: { 'in-toto.io/predicate-type': 'https://slsa.dev/provenance/v0.2' },
      },
    ],
  });
  const mediaType = options.mediaType ?? 'application/vnd.oci.image.index.v1+json';
  const index = putJson(layout, {
    schemaVersion: 2,
    mediaType,
    manifests: [
      ...manifests,
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...attestation,
        platform: { architecture: 'unknown', os: 'unknown' },
        annotations: {
          'vnd.docker.reference.digest': manifests[0]!.digest,
          'vnd.docker.reference.type': 'attestation-manifest',
        },
      },
    ],
    annotations: { 'org.opencontainers.image.created': '2026-11-28T00:00:00Z' },
  });
  const top = {
    mediaType,
    ...index,
    annotations: { 'org.opencontainers.image.ref.name': options.tag ?? 'latest' },
  };
  writeFileSync(
    join(layout, 'index.json'),
    `${JSON.stringify({ schemaVersion: 2, manifests: [top] }, null, 2)}\n`,
  );
  return { index: { mediaType, ...index }, manifests };
}
