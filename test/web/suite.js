/**
 * The round trips every web runtime must pass, with no Node API: imported as `web-suite` by
 * the workerd test's Worker (test/workerd/worker.js) and by the browser test's page
 * (test/browser/page.js), each of which adds the checks of its own runtime. Throwing fails
 * the test.
 */

import {
  applyDiff,
  convert,
  createBundle,
  createDiff,
  flatten,
  formatDigest,
  MemoryStore,
  openBundle,
  readBytes,
  reassemble,
  unbundle,
} from 'layerdiff';

/** Throws `message` (naming the runtime) unless `condition` holds. */
export function check(condition, message) {
  if (!condition) throw new Error(`${globalThis.navigator?.userAgent ?? 'web'}: ${message}`);
}

/** A stream of `bytes` in pieces of an odd size, so that no boundary falls on a block. */
export function streamOf(bytes, pieceSize = 7919) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + pieceSize));
      at += pieceSize;
    },
  });
}

/** `sha256:<hex>` of `bytes`, by WebCrypto. */
export async function sha256(bytes) {
  return formatDigest(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

/** Byte-for-byte equality. */
export function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Converts `source` (a stream, or bytes streamed in odd pieces) into a fresh store, rebuilds
 * the tar, and checks the digests against Node's.
 * @returns the index bytes, the conversion's result and the store.
 */
export async function roundTrip(label, source, expected, { kernel, zstd, log } = {}) {
  const store = new MemoryStore();
  const { index, done } = convert(source instanceof Uint8Array ? streamOf(source) : source, {
    store,
    ...(kernel ? { kernel } : {}),
    ...(zstd ? { zstd } : {}),
  });
  const indexBytes = await readBytes(index);
  const result = await done;
  const tar = await readBytes(reassemble(streamOf(indexBytes), store));
  const rebuilt = await sha256(tar);
  check(
    result.diffId === expected.tarDigest,
    `${label}: convert reported diffId ${result.diffId}, the fixture's sha256 is ${expected.tarDigest}`,
  );
  check(
    rebuilt === expected.tarDigest,
    `${label}: rebuilt tar (${tar.length} bytes) hashes to ${rebuilt}, the fixture's sha256 is ${expected.tarDigest}`,
  );
  check(
    tar.length === expected.tarSize && result.tarSize === expected.tarSize,
    `${label}: rebuilt ${tar.length} bytes and tarSize ${result.tarSize}, expected ${expected.tarSize}`,
  );
  check(
    result.chunks > store.size,
    `${label}: expected deduplicated chunks, got ${result.chunks} refs for ${store.size} stored`,
  );
  log?.(
    `${label}: ${result.compression}, ${result.entries} entries, ${result.chunks} chunk refs, ${store.size} stored, diffId ${result.diffId}`,
  );
  return { indexBytes, result, store };
}

/**
 * The round trips: the tar, gzip made by the host and by this runtime's CompressionStream,
 * zstd through each engine given, the layer through a second kernel (same index bytes),
 * flatten, a bundle read back and unbundled, and an LZ4 diff applied.
 * @param f - `tar`, `gzip`, `zstd`: the fixtures' bytes; `expected`: Node's digests of them;
 *   `kernel`: the CDC kernel to convert with; `otherKernel`: another (or `undefined` for
 *   convert's default) whose index must be the same; `zstdEngines`: `[label, options]` pairs
 *   for convert's `zstd` option; `lz4`: the LZ4 chunk codec; `log`: where progress goes.
 * @returns the tar's index bytes and the store holding its chunks.
 */
export async function runSuite({
  tar,
  gzip,
  zstd,
  expected,
  kernel,
  otherKernel,
  zstdEngines,
  lz4,
  log,
}) {
  check(
    (await sha256(tar)) === expected.tarDigest,
    'fixture tar: WebCrypto and node:crypto disagree',
  );
  check(
    (await sha256(gzip)) === expected.gzipDigest,
    'fixture tar.gz: WebCrypto and node:crypto disagree',
  );

  const plain = await roundTrip(`tar, ${kernel.name} kernel`, tar, expected, { kernel, log });
  check(plain.result.compression === 'none', `tar detected as ${plain.result.compression}`);

  const zipped = await roundTrip('tar+gzip (host gzip)', gzip, expected, { kernel, log });
  check(zipped.result.compression === 'gzip', `tar.gz detected as ${zipped.result.compression}`);
  check(
    zipped.result.blobDigest === expected.gzipDigest,
    `tar.gz blobDigest ${zipped.result.blobDigest}, expected ${expected.gzipDigest}`,
  );

  const ownGzip = await readBytes(streamOf(tar).pipeThrough(new CompressionStream('gzip')));
  const zipped2 = await roundTrip('tar+gzip (CompressionStream)', ownGzip, expected, {
    kernel,
    log,
  });
  check(
    zipped2.result.blobDigest === (await sha256(ownGzip)),
    `CompressionStream blobDigest ${zipped2.result.blobDigest} is not the blob's sha256`,
  );

  for (const [label, options] of zstdEngines) {
    const zst = await roundTrip(`tar+zstd (host zstd), ${label}`, zstd, expected, {
      kernel,
      zstd: options,
      log,
    });
    check(zst.result.compression === 'zstd', `tar.zst detected as ${zst.result.compression}`);
    check(
      zst.result.blobDigest === expected.zstdDigest,
      `tar.zst blobDigest ${zst.result.blobDigest}, expected ${expected.zstdDigest}`,
    );
  }

  const other = await roundTrip(`tar, ${otherKernel?.name ?? 'default'} kernel`, tar, expected, {
    kernel: otherKernel,
    log,
  });
  check(
    sameBytes(other.indexBytes, plain.indexBytes),
    `index from the ${otherKernel?.name ?? 'default'} kernel (${other.indexBytes.length} bytes) differs from the ${kernel.name} kernel's (${plain.indexBytes.length} bytes)`,
  );

  // flatten: the layer stacked on itself merges to the same tree as the layer alone.
  const source = () => streamOf(plain.indexBytes);
  const once = await readBytes(flatten([source], plain.store));
  const twice = await readBytes(flatten([source, source], plain.store));
  check(once.length > 1024 && once.length % 512 === 0, `flatten gave ${once.length} bytes`);
  check(sameBytes(once, twice), 'flatten of a layer over itself differs from the layer alone');
  log?.(`flatten: ${once.length} bytes`);

  // bundle: one zip (deflated where it helps) read back as a store, and unbundled into another.
  const zip = await readBytes(createBundle(plain.indexBytes, plain.store));
  const bundle = await openBundle(zip);
  const fromZip = await readBytes(reassemble(streamOf(await bundle.root()), bundle));
  check(
    (await sha256(fromZip)) === expected.tarDigest,
    'the tar rebuilt from a bundle differs from the fixture',
  );
  const fresh = new MemoryStore();
  const { newChunks } = await unbundle(zip, fresh);
  const fromStore = await readBytes(reassemble(streamOf(plain.indexBytes), fresh));
  check(
    (await sha256(fromStore)) === expected.tarDigest,
    'the tar rebuilt after unbundle differs from the fixture',
  );
  log?.(`bundle: ${zip.length} bytes, ${newChunks} chunks unbundled`);

  // LZ4 chunk compression: a diff whose chunks are LZ4 blocks, applied by a receiver that
  // decodes them with the default decoder.
  const diff = createDiff(streamOf(tar), {
    bases: [],
    store: new MemoryStore(),
    codec: lz4,
    kernel,
  });
  const diffBytes = await readBytes(diff.stream);
  const sent = await diff.done;
  check(
    sent.sentEncodedBytes < sent.sentBytes,
    `LZ4 diff sent ${sent.sentEncodedBytes} encoded bytes for ${sent.sentBytes}`,
  );
  const receiver = new MemoryStore();
  const applied = await applyDiff(streamOf(diffBytes), receiver);
  const fromDiff = await readBytes(reassemble(streamOf(applied.root), receiver));
  check(
    (await sha256(fromDiff)) === expected.tarDigest,
    'the tar rebuilt from an LZ4 diff differs from the fixture',
  );
  log?.(`LZ4 diff: ${sent.sentBytes} chunk bytes sent as ${sent.sentEncodedBytes}`);
  return plain;
}
