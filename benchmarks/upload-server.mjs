// @ts-check
/**
 * The receiving end of the upload benchmark: `node upload-server.mjs <port> <store-dir>`.
 * PUT /layers/<name> applies the request body (a diff stream) into the store as it arrives
 * and answers with the totals. Exits on SIGTERM.
 */
import { createServer } from 'node:http';
import { applyDiff } from 'layerdiff';
import { nodeChunkCodec, nodeHashProvider, nodeReadableSource, openStore } from 'layerdiff/node';

const [port, storeDir] = process.argv.slice(2);
const store = await openStore(storeDir ?? '/tmp/layerdiff-upload-store');
const hash = nodeHashProvider();
const server = createServer(async (req, res) => {
  try {
    // Pulled from the request only as applyDiff asks.
    const body = nodeReadableSource(req);
    const { root: _root, ...totals } = await applyDiff(body, store, {
      hash,
      codec: nodeChunkCodec(),
    });
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(totals));
  } catch (err) {
    res.writeHead(400).end(String(err));
  }
});
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
