/**
 * An edge registry in workerd (`workerd serve`), with no Node API: a chunked OCI layout and
 * its chunks, embedded as base64 by registry.test.ts, served by the platform-neutral build's
 * `createRegistryHandler` as the Worker's fetch. Layers are rebuilt from the chunks as clients
 * pull them; real clients (skopeo) pull from it in the test.
 *
 * `POST /_push?target=<host:port/repository:tag>` makes the Worker a client instead: it pushes
 * the embedded image into that registry with `pushImage` (plain HTTP, as the test's registry
 * speaks), and answers with the report.
 */

import data from 'fixtures/registry.json';
import {
  createRegistryHandler,
  LayoutReader,
  MemoryStore,
  OciBlobNotFoundError,
  OciDigestError,
  OciFormatError,
  OciLimitError,
  openRepository,
  pushImage,
  webHashProvider,
} from 'layerdiff';

const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The embedded layout as `LayoutFiles`: what a bucket binding would give a real Worker. */
function embeddedLayout(files) {
  const read = (path, limit, missing) => {
    const bytes = files.get(path);
    if (!bytes) throw missing();
    if (bytes.length > limit) throw new OciLimitError(`${path}: over ${limit} bytes`);
    return bytes;
  };
  const blobPath = (digest) => `blobs/sha256/${digest.slice('sha256:'.length)}`;
  return {
    async readTop(name, limit) {
      return read(name, limit, () => new OciFormatError(name, 'missing'));
    },
    async statBlob(d) {
      const bytes = files.get(blobPath(d.digest));
      if (!bytes) throw new OciBlobNotFoundError(d.digest);
      if (bytes.length !== d.size) throw new OciDigestError(d.digest, `${bytes.length} bytes`);
    },
    async readBlob(d, limit) {
      return read(blobPath(d.digest), limit, () => new OciBlobNotFoundError(d.digest));
    },
    openBlob(digest) {
      return new ReadableStream({
        start(controller) {
          const bytes = files.get(blobPath(digest));
          if (!bytes) return controller.error(new OciBlobNotFoundError(digest));
          controller.enqueue(bytes);
          controller.close();
        },
      });
    },
  };
}

async function start() {
  const hash = webHashProvider();
  const files = new Map(Object.entries(data.files).map(([k, v]) => [k, fromBase64(v)]));
  const layout = await LayoutReader.fromFiles(embeddedLayout(files), { hash });
  const store = new MemoryStore();
  for (const [digest, bytes] of Object.entries(data.chunks)) {
    await store.put(digest, fromBase64(bytes));
  }
  const repository = await openRepository(layout, { hash });
  const serve = createRegistryHandler({
    repositories: new Map([['edge/img', repository]]),
    store,
    hash,
    onStreamError: (err, request) => console.error(`${request.url}: ${err?.message ?? err}`),
  });
  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname !== '/_push') return serve(request);
    try {
      const report = await pushImage(layout, url.searchParams.get('target'), {
        store,
        ref: 'v1',
        plainHttp: true,
        hash,
      });
      return Response.json(report);
    } catch (err) {
      return Response.json({ error: `${err?.code ?? ''} ${err?.message ?? err}` }, { status: 500 });
    }
  };
}

let handler;

export default {
  async fetch(request) {
    handler ??= start();
    return (await handler)(request);
  },
};
