// @ts-check
/**
 * The sending end of the upload benchmark: `node upload-client.mjs <layer> <url>`. Streams the
 * layer's diff (no bases: everything) into fetch PUT and prints the server's answer.
 */
import { createDiff, MemoryStore } from 'layerdiff';
import { fileSource, nodeChunkCodec, nodeHashProvider } from 'layerdiff/node';

const [layer, url] = process.argv.slice(2);
const { stream, done } = createDiff(fileSource(layer ?? ''), {
  bases: [],
  store: new MemoryStore(),
  hash: nodeHashProvider(),
  codec: nodeChunkCodec(),
});
const res = await fetch(url ?? '', {
  method: 'PUT',
  body: stream,
  // @ts-expect-error: Node's fetch needs `duplex` for a streaming body; lib.dom does not declare it.
  duplex: 'half',
  // Keeps undici from holding the whole body for a possible redirect replay.
  redirect: 'error',
});
const reply = await res.text();
const diff = await done;
process.stdout.write(`${res.status} sent ${diff.diffBytes} bytes; server: ${reply}\n`);
if (res.status !== 201) process.exit(1);
