/**
 * A Worker that converts layers as they are pushed (`workerd serve`, no Node API, no
 * compatibility flags): `PUT /layers` streams the request body through `convert`, writing the
 * chunks the upstream store lacks and then the index to an upstream chunk store over HTTP (as
 * a Worker would write to an object store), and answers with the conversion's result. The
 * body is never held whole: convert pulls it as it arrives. convert.test.ts runs it.
 */

import upstream from 'fixtures/upstream.json';
import { convert, loadCdcKernel } from 'layerdiff';
import cdcModule from 'layerdiff/cdc.wasm';
import zstdModule from 'layerdiff/zstd.wasm';

/**
 * A chunk store over HTTP: `HEAD` and `PUT` of `/chunks/<digest>`; the chunks one conversion
 * met already are not asked for again.
 */
class UpstreamStore {
  constructor(base) {
    this.base = base;
    this.known = new Set();
  }

  async has(digest) {
    if (this.known.has(digest)) return true;
    const response = await fetch(`${this.base}/chunks/${digest}`, { method: 'HEAD' });
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`HEAD ${digest}: ${response.status}`);
    this.known.add(digest);
    return true;
  }

  async put(digest, bytes) {
    const response = await fetch(`${this.base}/chunks/${digest}`, { method: 'PUT', body: bytes });
    if (!response.ok) throw new Error(`PUT ${digest}: ${response.status}`);
    this.known.add(digest);
    return response.status === 201;
  }
}

let kernel;

export default {
  async fetch(request) {
    if (request.method !== 'PUT' || new URL(request.url).pathname !== '/layers') {
      return new Response('PUT /layers only\n', { status: 405 });
    }
    kernel ??= loadCdcKernel({ wasm: cdcModule, fallback: false });
    try {
      const { index, done } = convert(request.body, {
        store: new UpstreamStore(upstream.base),
        kernel: await kernel,
        zstd: { engine: 'wasm', wasm: zstdModule },
      });
      // The index goes upstream as it is made, in one streaming request.
      const [result, stored] = await Promise.all([
        done,
        fetch(`${upstream.base}/index`, { method: 'PUT', body: index }),
      ]);
      if (!stored.ok) throw new Error(`PUT index: ${stored.status}`);
      return Response.json(result);
    } catch (err) {
      return Response.json({ error: `${err?.code ?? ''} ${err?.message ?? err}` }, { status: 500 });
    }
  },
};
