/**
 * An edge registry in workerd (`workerd serve`), with no Node API: a chunked OCI layout and
 * its chunks, embedded as base64 by registry.test.ts, served by the platform-neutral build's
 * `createRegistryHandler` as the Worker's fetch. Layers are rebuilt from the chunks as clients
 * pull them; real clients (skopeo) pull from it in the test.
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
  return createRegistryHandler({
    repositories: new Map([['edge/img', repository]]),
    store,
    hash,
    onStreamError: (err, request) => console.error(`${request.url}: ${err?.message ?? err}`),
  });
}

let handler;

export default {
  async fetch(request) {
    handler ??= start();
    return (await handler)(request);
  },
};
