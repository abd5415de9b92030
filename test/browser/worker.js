/**
 * The web runtimes' round trips (test/web/suite.js) in a module Web Worker of the browser
 * test's page, where an application converts layers without holding up its page. Posts
 * `{ ok, error?, lines }` to the page.
 */

import { jsKernel, loadCdcKernel, loadLz4Codec } from 'layerdiff';
import { runSuite } from 'web-suite';

async function bytesOf(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

const lines = [];
try {
  await runSuite({
    tar: await bytesOf('/layer.tar'),
    gzip: await bytesOf('/layer.tar.gz'),
    zstd: await bytesOf('/layer.tar.zst'),
    expected: await (await fetch('/expected.json')).json(),
    kernel: await loadCdcKernel({ fallback: false }),
    otherKernel: jsKernel,
    zstdEngines: [['embedded zstd.wasm', { engine: 'wasm' }]],
    lz4: await loadLz4Codec(),
    log: (line) => lines.push(`worker: ${line}`),
  });
  postMessage({ ok: true, lines });
} catch (error) {
  postMessage({
    ok: false,
    error: `${error?.name}: ${error?.message}\n${error?.stack ?? ''}`,
    lines,
  });
}
