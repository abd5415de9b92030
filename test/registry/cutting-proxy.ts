/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that cuts chosen requests off mid-body, as
 * a network that fails does: the registry sees its client go away partway through an upload.
 * The `Host` header goes through unchanged, so the registry's upload locations name the proxy.
 */
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running proxy of {@link startCuttingProxy}. */
export interface CuttingProxy {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** `METHOD path status` of each request (`cut` for one cut off), in order. */
  log: string[];
  close(): void;
}

/**
 * Starts a proxy to `target` (`127.0.0.1:<port>`).
 * @param cut - for each request: after how many bytes of its body to cut it off (both
 * connections destroyed), or undefined to pass it through.
 */
export async function startCuttingProxy(
  target: string,
  cut: (req: IncomingMessage) => number | undefined,
): Promise<CuttingProxy> {
  const [hostname, port] = target.split(':') as [string, string];
  const log: string[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const entry = log.push(`${req.method} ${path}`) - 1;
    const up = request({ hostname, port, method: req.method, path: req.url, headers: req.headers });
    up.on('response', (r) => {
      log[entry] += ` ${r.statusCode}`;
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    const keep = cut(req);
    if (keep === undefined) {
      req.pipe(up);
      return;
    }
    let sent = 0;
    req.on('data', (b: Buffer) => {
      if (sent + b.length < keep) {
        up.write(b);
        sent += b.length;
        return;
      }
      up.write(b.subarray(0, keep - sent), () => {
        log[entry] += ' cut';
        up.destroy();
        req.socket.destroy();
      });
      sent = keep;
      req.pause();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    close: () => server.close(),
  };
}
