// @ts-check
/**
 * The main job on a built-in example: build a small layer (and a second version of it with one
 * file changed), convert both into a chunk store on disk, show what the second one cost, and
 * rebuild both byte for byte; then drop the first version from the store (a garbage
 * collection) and rebuild the second again.
 *
 * Run: npm run example
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convert, encodeHeader, reassemble } from 'layerdiff';
import { collectGarbage, nodeHashProvider, openStore } from 'layerdiff/node';

/** Deterministic pseudo-random bytes (xorshift32). */
function noise(n, seed) {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A tar of `files` ([path, bytes] pairs) as one Uint8Array, with end-of-archive blocks. */
function tarOf(files) {
  const parts = [];
  for (const [path, body] of files) {
    parts.push(encodeHeader({ path, size: body.length, mode: 0o644, mtime: 1700000000 }), body);
    parts.push(new Uint8Array((512 - (body.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const streamOf = (bytes) => new Blob([bytes]).stream();
const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function bytesOf(stream) {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const app = noise(4 * 1024 * 1024, 7);
const v1 = tarOf([
  ['app/server', app],
  ['app/config.json', new TextEncoder().encode('{"port": 8080}\n')],
]);
const appPatched = app.slice();
const middle = 2 * 1024 * 1024;
appPatched[middle] = (appPatched[middle] ?? 0) ^ 0xff; // one byte changed in a 4 MiB file
const v2 = tarOf([
  ['app/server', appPatched],
  ['app/config.json', new TextEncoder().encode('{"port": 9090}\n')],
]);

const dir = await mkdtemp(join(tmpdir(), 'layerdiff-example-'));
try {
  const root = join(dir, 'store');
  const store = await openStore(root);
  const hash = nodeHashProvider();
  /** @type {Map<string, Uint8Array>} */
  const indexes = new Map();
  /** @type {Array<[string, Uint8Array]>} */
  const versions = [
    ['v1', v1],
    ['v2', v2],
  ];
  for (const [name, tar] of versions) {
    const { index, done } = convert(streamOf(tar), { store, hash });
    const indexBytes = await bytesOf(index);
    const r = await done;
    indexes.set(name, indexBytes);
    console.log(
      `${name}: ${tar.length} byte layer, diff_id ${r.diffId.slice(0, 19)}…, ${r.chunks} chunks, ` +
        `${r.newChunks} new (${r.newBytes} bytes stored), index ${indexBytes.length} bytes`,
    );
    const rebuilt = await bytesOf(reassemble(streamOf(indexBytes), store, { hash }));
    if (sha256(rebuilt) !== sha256(tar) || sha256(rebuilt) !== r.diffId) {
      throw new Error(`${name}: the rebuilt layer differs from the original`);
    }
    console.log(
      `${name}: rebuilt ${rebuilt.length} bytes from the store, sha256 matches the diff_id`,
    );
  }
  // v1 is no longer wanted: keep what v2 needs, drop the rest. A collection needs the store to
  // itself, so the store is closed first.
  await store.close();
  const gc = await collectGarbage(root, [/** @type {Uint8Array} */ (indexes.get('v2'))], { hash });
  console.log(
    `gc keeping v2: ${gc.chunksRemoved} of ${gc.chunksBefore} chunks removed, ` +
      `store ${gc.bytesBefore} -> ${gc.bytesAfter} bytes`,
  );
  const after = await openStore(root);
  const v2Again = await bytesOf(
    reassemble(streamOf(/** @type {Uint8Array} */ (indexes.get('v2'))), after, { hash }),
  );
  await after.close();
  if (sha256(v2Again) !== sha256(v2)) throw new Error('v2 differs after the collection');
  console.log('v2: rebuilt again after the collection, sha256 matches');
} finally {
  await rm(dir, { recursive: true, force: true });
}
