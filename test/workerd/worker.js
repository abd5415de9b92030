/**
 * Runs in workerd (`workerd test`), with no Node API: converts a GNU-tar-made layer with the
 * platform-neutral build, rebuilds it from the chunks, and checks every digest. Throwing fails
 * the test. workerd.test.ts makes the fixtures and renders config.capnp, which maps the module
 * names imported here to files.
 */

import expected from 'fixtures/expected.json';
import tarFixture from 'fixtures/layer.tar';
import gzipFixture from 'fixtures/layer.tar.gz';
import zstdFixture from 'fixtures/layer.tar.zst';
import {
  applyDiff,
  convert,
  createBundle,
  createDiff,
  flatten,
  formatDigest,
  loadCdcKernel,
  loadLz4Codec,
  MemoryStore,
  openBundle,
  reassemble,
  unbundle,
  webHashProvider,
} from 'layerdiff';
import kernelModule from 'layerdiff/cdc.wasm';
import lz4Module from 'layerdiff/lz4.wasm';
import zstdModule from 'layerdiff/zstd.wasm';

function check(condition, message) {
  if (!condition) throw new Error(`workerd: ${message}`);
}

function streamOf(bytes, pieceSize = 7919) {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + pieceSize));
      at += pieceSize;
    },
  });
}

async function readAll(stream) {
  const parts = [];
  let length = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    length += value.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return formatDigest(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Converts `blob`, rebuilds the tar, and checks the digests; returns the index bytes. */
async function roundTrip(label, blob, kernel, zstd) {
  const store = new MemoryStore();
  const { index, done } = convert(streamOf(blob), {
    store,
    ...(kernel ? { kernel } : {}),
    ...(zstd ? { zstd } : {}),
  });
  const indexBytes = await readAll(index);
  const result = await done;
  const tar = await readAll(reassemble(streamOf(indexBytes), store));
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
    tar.length === expected.tarSize,
    `${label}: rebuilt ${tar.length} bytes, expected ${expected.tarSize}`,
  );
  check(
    result.tarSize === expected.tarSize,
    `${label}: tarSize ${result.tarSize}, expected ${expected.tarSize}`,
  );
  check(
    result.chunks > store.size,
    `${label}: expected deduplicated chunks, got ${result.chunks} refs for ${store.size} stored`,
  );
  console.log(
    `${label}: ${result.compression}, ${result.entries} entries, ${result.chunks} chunk refs, ${store.size} stored, diffId ${result.diffId}`,
  );
  return { indexBytes, result, store };
}

export default {
  async test() {
    const tar = new Uint8Array(tarFixture);
    const gzip = new Uint8Array(gzipFixture);
    check(
      (await sha256(tar)) === expected.tarDigest,
      'fixture tar: WebCrypto and node:crypto disagree',
    );
    check(
      (await sha256(gzip)) === expected.gzipDigest,
      'fixture tar.gz: WebCrypto and node:crypto disagree',
    );

    // workerd's streaming digest is used, not hash-wasm (which would need to compile Wasm).
    const hashName = webHashProvider().name;
    check(
      hashName === 'webcrypto+digeststream',
      `hash provider is ${hashName}, expected webcrypto+digeststream`,
    );

    // The precompiled module is instantiated; compiling the embedded bytes is refused.
    const wasm = await loadCdcKernel({ wasm: kernelModule, fallback: false });
    check(wasm.name === 'wasm', `precompiled cdc.wasm gave the ${wasm.name} kernel`);
    const refused = await loadCdcKernel({ fallback: false }).then(
      (k) => `resolved with the ${k.name} kernel`,
      (e) => e,
    );
    check(
      refused?.code === 'ERR_WASM_UNAVAILABLE',
      `loadCdcKernel({ fallback: false }) should reject with ERR_WASM_UNAVAILABLE in workerd, got ${refused}`,
    );
    console.log(`compiling the embedded kernel: ${refused.message}`);
    const fallback = await loadCdcKernel();
    check(
      fallback.name === 'js',
      `default loader gave the ${fallback.name} kernel, expected the js fallback`,
    );

    const plain = await roundTrip('tar, wasm kernel', tar, wasm);
    check(plain.result.compression === 'none', `tar detected as ${plain.result.compression}`);

    const zipped = await roundTrip('tar+gzip (host gzip), wasm kernel', gzip, wasm);
    check(zipped.result.compression === 'gzip', `tar.gz detected as ${zipped.result.compression}`);
    check(
      zipped.result.blobDigest === expected.gzipDigest,
      `tar.gz blobDigest ${zipped.result.blobDigest}, expected ${expected.gzipDigest}`,
    );

    const workerGzip = await readAll(streamOf(tar).pipeThrough(new CompressionStream('gzip')));
    const zipped2 = await roundTrip('tar+gzip (CompressionStream), wasm kernel', workerGzip, wasm);
    check(
      zipped2.result.blobDigest === (await sha256(workerGzip)),
      `CompressionStream blobDigest ${zipped2.result.blobDigest} is not the blob's sha256`,
    );

    // zstd through the pure-JS decoder (fzstd: the embedded module cannot be compiled here),
    // and through layerdiff's block decoder from the precompiled module.
    const zstd = new Uint8Array(zstdFixture);
    const refusedZstd = await roundTrip('tar+zstd, wasm engine', zstd, wasm, {
      engine: 'wasm',
    }).then(
      () => 'converted',
      (e) => e,
    );
    check(
      refusedZstd?.code === 'ERR_WASM_UNAVAILABLE',
      `zstd engine 'wasm' with no module should fail with ERR_WASM_UNAVAILABLE, got ${refusedZstd}`,
    );
    for (const [label, options] of [
      ['tar+zstd (host zstd), fzstd', undefined],
      ['tar+zstd (host zstd), zstd.wasm', { engine: 'wasm', wasm: zstdModule }],
    ]) {
      const zst = await roundTrip(`${label}, wasm kernel`, zstd, wasm, options);
      check(zst.result.compression === 'zstd', `tar.zst detected as ${zst.result.compression}`);
      check(
        zst.result.blobDigest === expected.zstdDigest,
        `tar.zst blobDigest ${zst.result.blobDigest}, expected ${expected.zstdDigest}`,
      );
    }

    // No kernel given: convert loads the default, which falls back to JS here.
    const js = await roundTrip('tar, default kernel (js fallback)', tar);
    check(
      sameBytes(js.indexBytes, plain.indexBytes),
      `index from the js fallback (${js.indexBytes.length} bytes) differs from the wasm kernel's (${plain.indexBytes.length} bytes)`,
    );
    // flatten: the layer stacked on itself merges to the same tree as the layer alone.
    const source = () => streamOf(plain.indexBytes);
    const once = await readAll(flatten([source], plain.store));
    const twice = await readAll(flatten([source, source], plain.store));
    check(once.length > 1024 && once.length % 512 === 0, `flatten gave ${once.length} bytes`);
    check(sameBytes(once, twice), 'flatten of a layer over itself differs from the layer alone');
    console.log(`flatten: ${once.length} bytes`);
    // bundle: one zip (deflated where it helps) read back as a store, and unbundled into another.
    const zip = await readAll(createBundle(plain.indexBytes, plain.store));
    const bundle = await openBundle(zip);
    const fromZip = await readAll(reassemble(streamOf(await bundle.root()), bundle));
    check(
      (await sha256(fromZip)) === expected.tarDigest,
      'the tar rebuilt from a bundle differs from the fixture',
    );
    const fresh = new MemoryStore();
    const { newChunks } = await unbundle(zip, fresh);
    const fromStore = await readAll(reassemble(streamOf(plain.indexBytes), fresh));
    check(
      (await sha256(fromStore)) === expected.tarDigest,
      'the tar rebuilt after unbundle differs from the fixture',
    );
    console.log(`bundle: ${zip.length} bytes, ${newChunks} chunks unbundled`);
    // LZ4 chunk compression from the precompiled module: a diff whose chunks are LZ4 blocks,
    // applied by a receiver that decodes them in JS.
    const lz4 = await loadLz4Codec({ wasm: lz4Module });
    const diff = createDiff(streamOf(tar), {
      bases: [],
      store: new MemoryStore(),
      codec: lz4,
      kernel: wasm,
    });
    const diffBytes = await readAll(diff.stream);
    const sent = await diff.done;
    check(
      sent.sentEncodedBytes < sent.sentBytes,
      `LZ4 diff sent ${sent.sentEncodedBytes} encoded bytes for ${sent.sentBytes}`,
    );
    const receiver = new MemoryStore();
    const applied = await applyDiff(streamOf(diffBytes), receiver);
    const fromDiff = await readAll(reassemble(streamOf(applied.root), receiver));
    check(
      (await sha256(fromDiff)) === expected.tarDigest,
      'the tar rebuilt from an LZ4 diff differs from the fixture',
    );
    console.log(`LZ4 diff: ${sent.sentBytes} chunk bytes sent as ${sent.sentEncodedBytes}`);
    console.log('layerdiff workerd round trip: ok');
  },
};
