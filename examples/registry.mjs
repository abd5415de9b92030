// @ts-check
/**
 * An OCI registry that serves layers out of chunks: an image layout is converted into a chunk
 * store, and its chunked form is served on 127.0.0.1 by `createRegistryHandler` behind
 * `serveRegistry`. A client (here `fetch`; `skopeo copy` or `docker pull` alike) reads the tag
 * list, the manifest and the layer, which the server rebuilds from its chunks as it is read;
 * the client checks each digest. No layer blob is stored anywhere but as chunks.
 *
 * Run: npm run build && node examples/registry.mjs
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryHandler, encodeHeader, openRepository } from 'layerdiff';
import {
  convertLayout,
  nodeHashProvider,
  OciLayout,
  openStore,
  serveRegistry,
} from 'layerdiff/node';

const sha256 = (/** @type {Uint8Array} */ bytes) =>
  `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** A tar of one file of `size` pseudo-random bytes. */
function layerTar(size) {
  const body = new Uint8Array(size);
  let x = 2463534242;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    body[i] = x & 0xff;
  }
  const header = encodeHeader({
    path: 'srv/data.bin',
    size,
    mode: 0o644,
    mtime: { sec: 1700000000, nsec: 0 },
  });
  const tar = new Uint8Array(header.length + size + ((512 - (size % 512)) % 512) + 1024);
  tar.set(header, 0);
  tar.set(body, header.length);
  return tar;
}

/** Writes an image layout of one uncompressed layer, tagged `v1`. */
async function writeLayout(dir, tar) {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (/** @type {Uint8Array} */ bytes) => {
    const digest = sha256(bytes);
    await writeFile(join(blobs, digest.slice(7)), bytes);
    return { digest, size: bytes.length };
  };
  const json = (/** @type {unknown} */ v) => new TextEncoder().encode(JSON.stringify(v));
  const layer = await put(tar);
  const config = await put(
    json({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const manifest = await put(
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(dir, 'index.json'),
    json({
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
  return manifest.digest;
}

const work = await mkdtemp(join(tmpdir(), 'layerdiff-registry-example-'));
try {
  const hash = nodeHashProvider();
  const image = join(work, 'image');
  const manifestDigest = await writeLayout(image, layerTar(3 * 1024 * 1024));
  const store = await openStore(join(work, 'store'));
  await convertLayout(image, { store, out: join(work, 'chunked'), hash });

  const repository = await openRepository(await OciLayout.open(join(work, 'chunked')), { hash });
  const handler = createRegistryHandler({
    repositories: new Map([['demo/app', repository]]),
    store,
    hash,
  });
  const server = await serveRegistry(handler);
  try {
    const base = `${server.url}/v2/demo/app`;
    const tags = await (await fetch(`${base}/tags/list`)).json();
    const res = await fetch(`${base}/manifests/v1`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (sha256(bytes) !== manifestDigest) throw new Error('the manifest is not the original');
    const manifest = JSON.parse(new TextDecoder().decode(bytes));
    for (const d of [manifest.config, ...manifest.layers]) {
      const blob = new Uint8Array(await (await fetch(`${base}/blobs/${d.digest}`)).arrayBuffer());
      if (sha256(blob) !== d.digest) throw new Error(`blob ${d.digest} came back different`);
    }
    console.log(`${server.url}: demo/app tags ${tags.tags.join(', ')}`);
    console.log(`manifest ${manifestDigest}: the original, byte for byte`);
    console.log(
      `layer ${manifest.layers[0].digest} (${manifest.layers[0].size} bytes) rebuilt from chunks, digest checked`,
    );
  } finally {
    await server.close();
    if ('close' in store) await store.close();
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
