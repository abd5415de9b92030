/**
 * HTTP servers on 127.0.0.1 for one test file: each started by {@link serve}, all ended after
 * each test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/** Starts a server on 127.0.0.1 that lasts until the test ends; gives its `127.0.0.1:<port>`. */
export async function serve(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const server = createServer(handle);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Answers GET and HEAD with `bytes`, honouring a single `Range: bytes=a-b | a- | -n` (206, or
 * 416 for a range that cannot be satisfied).
 * @returns the range sent (`start` to `end` inclusive), or `undefined` for a 416.
 */
export function answerWithRanges(
  req: IncomingMessage,
  res: ServerResponse,
  bytes: Uint8Array,
  contentType: string,
): { start: number; end: number; partial: boolean } | undefined {
  const head = { 'Accept-Ranges': 'bytes', 'Content-Type': contentType };
  const range = req.headers.range;
  let start = 0;
  let end = bytes.length - 1;
  if (range) {
    const m = /^bytes=(\d*)-(\d*)$/.exec(range);
    if (m && m[1] === '' && m[2] !== '') {
      start = Math.max(0, bytes.length - Number(m[2]));
    } else if (m && m[1] !== '') {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    }
    if (!m || (m[1] === '' && m[2] === '') || start > end || start >= bytes.length) {
      res.writeHead(416, { 'Content-Range': `bytes */${bytes.length}` }).end();
      return undefined;
    }
    res.writeHead(206, {
      ...head,
      'Content-Range': `bytes ${start}-${end}/${bytes.length}`,
      'Content-Length': String(end - start + 1),
    });
  } else {
    res.writeHead(200, { ...head, 'Content-Length': String(bytes.length) });
  }
  res.end(req.method === 'HEAD' ? undefined : bytes.subarray(start, end + 1));
  return { start, end, partial: range !== undefined };
}
