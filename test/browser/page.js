/**
 * Runs in a real browser's page (headless Chromium and Firefox; browser.test.ts bundles it
 * with dist/index.js and serves it on 127.0.0.1): the web runtimes' round trips
 * (test/web/suite.js) with what a browser gives, after the checks of a browser's own: no
 * streaming digest (hash-wasm for the incremental diff_id), WebAssembly compiled from bytes on
 * the page's thread, a layer converted as it downloads through `fetch`, and a bundle read
 * through HTTP Range requests; then the round trips again in a module Web Worker (worker.js).
 * The outcome is posted to `/result`.
 */

import { HttpRangeReader } from '@zip.js/zip.js';
import {
  convert,
  jsKernel,
  loadCdcKernel,
  loadLz4Codec,
  MemoryStore,
  openBundle,
  readBytes,
  reassemble,
  webHashProvider,
} from 'layerdiff';
import { check, runSuite, sha256, streamOf } from 'web-suite';

const lines = [];
const log = (line) => lines.push(line);

async function bytesOf(path) {
  const response = await fetch(path);
  check(response.ok, `GET ${path}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function run() {
  const expected = await (await fetch('/expected.json')).json();
  const tar = await bytesOf('/layer.tar');

  // No browser has a streaming digest: one-shot digests by WebCrypto, the diff_id by hash-wasm.
  const hashName = webHashProvider().name;
  check(
    hashName === 'webcrypto+hash-wasm',
    `hash provider is ${hashName}, expected webcrypto+hash-wasm`,
  );

  // The embedded kernel compiles here, and so does cdc.wasm as a bundler would fetch it.
  const wasm = await loadCdcKernel({ fallback: false });
  check(wasm.name === 'wasm', `the embedded kernel loaded as ${wasm.name}`);
  const fetched = await loadCdcKernel({
    wasm: await WebAssembly.compileStreaming(fetch('/cdc.wasm')),
    fallback: false,
  });
  check(fetched.name === 'wasm', `cdc.wasm fetched and compiled gave the ${fetched.name} kernel`);

  await runSuite({
    tar,
    gzip: await bytesOf('/layer.tar.gz'),
    zstd: await bytesOf('/layer.tar.zst'),
    expected,
    kernel: wasm,
    otherKernel: jsKernel,
    zstdEngines: [
      ['embedded zstd.wasm', { engine: 'wasm' }],
      ['fzstd', { engine: 'fzstd' }],
    ],
    lz4: await loadLz4Codec(),
    log,
  });

  // A layer converted as it downloads: the response body is the input stream.
  const store = new MemoryStore();
  const response = await fetch('/layer.tar.gz');
  const { index, done } = convert(response.body, { store, kernel: fetched });
  const indexBytes = await readBytes(index);
  const result = await done;
  check(
    result.diffId === expected.tarDigest && result.blobDigest === expected.gzipDigest,
    `fetched tar.gz: diffId ${result.diffId}, blobDigest ${result.blobDigest}`,
  );
  const rebuilt = await sha256(await readBytes(reassemble(streamOf(indexBytes), store)));
  check(rebuilt === expected.tarDigest, `fetched tar.gz rebuilt as ${rebuilt}`);
  log(`fetch: ${result.bytesIn} bytes converted as they arrived, rebuilt ${rebuilt}`);

  // A bundle read in place over HTTP Range: only the parts the rebuild needs are fetched.
  const bundle = await openBundle(new HttpRangeReader('/layer.zip'));
  const fromZip = await sha256(await readBytes(reassemble(streamOf(await bundle.root()), bundle)));
  check(fromZip === expected.tarDigest, `the tar rebuilt from /layer.zip hashes to ${fromZip}`);
  log(`bundle over HTTP Range: rebuilt ${fromZip}`);

  // The same round trips in a module Web Worker, off the page's thread.
  const worker = new Worker('/worker.js', { type: 'module' });
  const inWorker = await new Promise((resolve) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) =>
      resolve({ ok: false, error: `worker: ${event.message}`, lines: [] });
  });
  worker.terminate();
  lines.push(...inWorker.lines);
  check(inWorker.ok, `in a Web Worker: ${inWorker.error}`);
  log('Web Worker: ok');
}

const outcome = await run().then(
  () => ({ ok: true }),
  (error) => ({ ok: false, error: `${error?.name}: ${error?.message}\n${error?.stack ?? ''}` }),
);
await fetch('/result', {
  method: 'POST',
  body: JSON.stringify({ ...outcome, userAgent: navigator.userAgent, lines }),
});
