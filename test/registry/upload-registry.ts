/**
 * A registry of our own on 127.0.0.1 that takes pushes, for what Debian's `docker-registry`
 * (distribution 2.8) does not do: it keeps the bytes of an upload request that was cut off, as
 * distribution 3 and other registries do, and says how far an upload got, so a resumed upload
 * can be seen to go on from there. It can cut requests off, lose answers, and hand out bearer
 * tokens that expire. It checks every blob's digest as it completes.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the registry saw. */
export interface SeenRequest {
  method: string;
  /** The path, without the query. */
  path: string;
  /** The query, `?...` or ''. */
  query: string;
  /** Its `Content-Range`, if any. */
  range?: string;
  authorization?: string;
  /** What it was answered; `cut` when its connection was destroyed. */
  status?: number | 'cut';
}

/** What the registry does besides taking uploads. */
export interface UploadRegistryOptions {
  /**
   * For a `PATCH` or `PUT` of an upload: cut it off (its connection destroyed) once this many
   * bytes of its body came; they are kept.
   */
  cut?: (req: SeenRequest) => number | undefined;
  /** For the `PUT` that completes a blob: complete it, then destroy the connection unanswered. */
  loseAnswer?: (req: SeenRequest) => boolean;
  /**
   * Bearer tokens from `/token`, living `lifetimeS` (their `expires_in`), taken for `graceS`
   * longer; `revoke` refuses a request and the token it carried.
   */
  tokens?: { lifetimeS: number; graceS?: number; revoke?: (req: SeenRequest) => boolean };
  /**
   * Another repository, which answers `headStatus` (200 unless given) to a `HEAD` of any blob;
   * a mount from it is answered `mountStatus` (and nothing mounted).
   */
  other?: { name: string; mountStatus: number; headStatus?: number };
  /** What a status `GET` says an upload holding `held` bytes holds (`0-<held - 1>`). */
  statusRange?: (held: number) => string;
  /** A status to answer a request with at once (its body unread), instead of taking it. */
  refuse?: (req: SeenRequest) => number | undefined;
  /** How long the answer to a `PUT` that completes a blob waits. */
  holdCompletionMs?: number;
  /** How long a request waits before it is handled at all (its connection open). */
  delayMs?: (req: SeenRequest) => number | undefined;
}

/** A running registry of {@link startUploadRegistry}. */
export interface UploadRegistry {
  /** `127.0.0.1:<port>`; the repository is `x`. */
  host: string;
  requests: SeenRequest[];
  /** Completed blobs by digest, and manifests by digest and by tag. */
  blobs: Map<string, Buffer>;
  manifests: Map<string, Buffer>;
  /** Tokens handed out. */
  tokensIssued: number;
  /**
   * The most uploads open at once, as a new one begins: begun and neither deleted nor answered
   * as complete.
   */
  openMost: number;
  close(): void;
}

/** Starts a {@link UploadRegistry}. */
export async function startUploadRegistry(
  options: UploadRegistryOptions = {},
): Promise<UploadRegistry> {
  const uploads = new Map<string, Buffer[]>();
  const tokens = new Map<string, { issued: number; revoked: boolean }>();
  let nextId = 0;
  const reg: UploadRegistry = {
    host: '',
    requests: [],
    blobs: new Map(),
    manifests: new Map(),
    tokensIssued: 0,
    openMost: 0,
    close: () => server.close(),
  };
  /** Completed uploads whose answer waits ({@link UploadRegistryOptions.holdCompletionMs}). */
  let answering = 0;
  const held = (id: string) => (uploads.get(id) ?? []).reduce((n, b) => n + b.length, 0);
  /** Where an upload stands, as distribution says it. */
  const standing = (id: string) => ({
    location: `http://${reg.host}/v2/x/blobs/uploads/${id}`,
    range: options.statusRange?.(held(id)) ?? `0-${Math.max(0, held(id) - 1)}`,
  });
  const answer = (seen: SeenRequest, res: ServerResponse, status: number, headers = {}) => {
    seen.status = status;
    res.writeHead(status, headers).end();
  };
  /** Reads a body into `into`, cut off where `cut` says; `done` once it all came. */
  const readBody = (req: IncomingMessage, seen: SeenRequest, into: Buffer[], done: () => void) => {
    const cutAt = seen.method === 'HEAD' ? undefined : options.cut?.(seen);
    let got = 0;
    req.on('data', (b: Buffer) => {
      if (cutAt !== undefined && got + b.length >= cutAt) {
        into.push(b.subarray(0, cutAt - got));
        got = cutAt;
        seen.status = 'cut';
        req.socket.destroy();
        return;
      }
      into.push(b);
      got += b.length;
    });
    req.on('end', () => {
      if (seen.status !== 'cut') done();
    });
  };
  const authorized = (req: IncomingMessage, seen: SeenRequest, res: ServerResponse) => {
    const t = options.tokens;
    if (!t) return true;
    const token = tokens.get(/^Bearer (.+)$/.exec(seen.authorization ?? '')?.[1] ?? '');
    const lives = (t.lifetimeS + (t.graceS ?? 0)) * 1e3;
    let ok = token !== undefined && !token.revoked && Date.now() < token.issued + lives;
    if (ok && t.revoke?.(seen)) {
      token!.revoked = true;
      ok = false;
    }
    if (ok) return true;
    req.resume();
    answer(seen, res, 401, {
      'www-authenticate': `Bearer realm="http://${reg.host}/token",service="test",scope="repository:x:pull,push"`,
      connection: 'close',
    });
    return false;
  };
  const server = createServer((req, res) => {
    const wait = options.delayMs?.(describe(req));
    if (wait) {
      setTimeout(() => handle(req, res), wait);
      return;
    }
    handle(req, res);
  });
  /** What a request is, before it is seen. */
  const describe = (req: IncomingMessage): SeenRequest => {
    const url = new URL(req.url ?? '/', 'http://x');
    return { method: req.method ?? '', path: url.pathname, query: url.search };
  };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.search,
      ...(req.headers['content-range'] ? { range: String(req.headers['content-range']) } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    reg.requests.push(seen);
    if (url.pathname === '/token') {
      const token = `t${++reg.tokensIssued}`;
      tokens.set(token, { issued: Date.now(), revoked: false });
      seen.status = 200;
      res.end(JSON.stringify({ token, expires_in: options.tokens?.lifetimeS }));
      return;
    }
    if (!authorized(req, seen, res)) return;
    const refused = options.refuse?.(seen);
    if (refused !== undefined) {
      req.resume();
      return answer(seen, res, refused);
    }
    if (url.pathname === '/v2/') return answer(seen, res, 200);
    const blob = /^\/v2\/x\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && req.method === 'HEAD') {
      const b = reg.blobs.get(blob[1]!);
      return answer(seen, res, b ? 200 : 404, b ? { 'content-length': b.length } : {});
    }
    const other = options.other;
    if (other && req.method === 'HEAD' && url.pathname.startsWith(`/v2/${other.name}/blobs/`)) {
      return answer(seen, res, other.headStatus ?? 200);
    }
    if (other && url.searchParams.has('mount')) return answer(seen, res, other.mountStatus);
    if (url.pathname === '/v2/x/blobs/uploads/' && req.method === 'POST') {
      const id = `u${++nextId}`;
      uploads.set(id, []);
      reg.openMost = Math.max(reg.openMost, uploads.size + answering);
      return answer(seen, res, 202, { location: standing(id).location, range: '0-0' });
    }
    const upload = /^\/v2\/x\/blobs\/uploads\/(u\d+)$/.exec(url.pathname)?.[1];
    if (upload !== undefined) {
      const parts = uploads.get(upload);
      if (!parts) {
        req.resume();
        return answer(seen, res, 404);
      }
      if (req.method === 'GET') return answer(seen, res, 204, standing(upload));
      if (req.method === 'DELETE') {
        uploads.delete(upload);
        return answer(seen, res, 204);
      }
      const start = seen.range && Number(/^(\d+)-/.exec(seen.range)?.[1]);
      if (start !== undefined && start !== held(upload)) {
        req.resume();
        return answer(seen, res, 416, standing(upload));
      }
      if (req.method === 'PATCH') {
        return readBody(req, seen, parts, () => answer(seen, res, 202, standing(upload)));
      }
      if (req.method === 'PUT') {
        return readBody(req, seen, parts, () => {
          const bytes = Buffer.concat(parts);
          const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
          if (digest !== url.searchParams.get('digest')) return answer(seen, res, 400);
          uploads.delete(upload);
          reg.blobs.set(digest, bytes);
          if (options.loseAnswer?.(seen)) {
            seen.status = 'cut';
            req.socket.destroy();
            return;
          }
          answering++;
          setTimeout(() => {
            answering--;
            answer(seen, res, 201, { 'docker-content-digest': digest });
          }, options.holdCompletionMs ?? 0);
        });
      }
    }
    const manifest = /^\/v2\/x\/manifests\/(.+)$/.exec(url.pathname)?.[1];
    if (manifest !== undefined && req.method === 'PUT') {
      const body: Buffer[] = [];
      return readBody(req, seen, body, () => {
        const bytes = Buffer.concat(body);
        const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        reg.manifests.set(digest, bytes);
        reg.manifests.set(manifest, bytes);
        answer(seen, res, 201, { 'docker-content-digest': digest });
      });
    }
    req.resume();
    answer(seen, res, 404);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  reg.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return reg;
}
