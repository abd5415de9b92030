/**
 * A request the fetch refuses for good (a redirect `redirect: 'error'` refuses, more than 20
 * redirects, a redirect to a scheme not http(s), an answer whose status is not HTTP's) is
 * asked once and fails at once; a network failure (the connection reset) is still asked
 * again. So is a host name the resolver did not find (`ENOTFOUND`, asked once), unlike a
 * resolver that could not answer (`EAI_AGAIN`, asked again). Against `nodeHttpFetch` and
 * Node's `fetch`, on servers on 127.0.0.1 that count what they are asked, and with name
 * lookups failed in-process.
 */
import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RegistryError } from '../../src/errors.js';
import { webHashProvider } from '../../src/hash/web.js';
import { nodeHttpFetch } from '../../src/node/http-fetch.js';
import { uploadBlob } from '../../src/registry/blob-upload.js';
import { hostNotFound, refusedByFetch } from '../../src/registry/fetch-failure.js';
import { parseImageReference } from '../../src/registry/names.js';
import { mayPass, openSession } from '../../src/registry/session.js';
import { serve } from '../helpers/servers.js';

/** Servers of raw TCP (answers no HTTP server would give), ended after each test. */
const raw: Server[] = [];
afterEach(() => {
  for (const s of raw.splice(0)) s.close();
  vi.restoreAllMocks();
});

/**
 * Makes every name lookup of this process fail with `code`, as Node's resolver fails it
 * (`getaddrinfo ENOTFOUND <host>`, errno -3008, for a name that does not exist;
 * `EAI_AGAIN`, -3001, for a resolver that could not answer): `node:http` and Node's fetch
 * both look names up with `dns.lookup`, so no outside DNS is asked.
 * @returns the hosts looked up.
 */
function failLookups(code: 'ENOTFOUND' | 'EAI_AGAIN'): string[] {
  const looked: string[] = [];
  vi.spyOn(dns, 'lookup').mockImplementation(((host: string, ...rest: unknown[]) => {
    looked.push(host);
    const callback = rest[rest.length - 1] as (err: Error) => void;
    const err = Object.assign(new Error(`getaddrinfo ${code} ${host}`), {
      errno: code === 'ENOTFOUND' ? -3008 : -3001,
      code,
      syscall: 'getaddrinfo',
      hostname: host,
    });
    process.nextTick(callback, err);
  }) as typeof dns.lookup);
  return looked;
}

/** A TCP server on 127.0.0.1 that answers each connection's first bytes with `answer`. */
async function rawServer(answer: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => answer(socket));
  });
  server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  raw.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return `127.0.0.1:${port}`;
}

describe.each([
  ['nodeHttpFetch', nodeHttpFetch()],
  ["Node's fetch", globalThis.fetch],
])('over %s', (_name, fetch) => {
  /** A session on `host` that asks a failed GET again 3 times, 1 ms apart. */
  const session = (host: string) =>
    openSession(parseImageReference(`${host}/app`), 'pull', {
      plainHttp: true,
      fetch,
      retries: 3,
      retryDelayMs: 1,
    });

  it('a redirect that redirect: "error" refuses is asked once', async () => {
    let asked = 0;
    const host = await serve((_req, res) => {
      asked++;
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    const s = session(host);
    const err = await s
      .request(`${s.base}/manifests/v1`, { redirect: 'error' })
      .catch((e: unknown) => e);
    expect(asked).toBe(1);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBeUndefined();
    expect((err as Error).message).toMatch(/: refused by the fetch: /);
    expect(mayPass(err)).toBe(false);
  });

  it('more than 20 redirects: 21 requests, not 84', async () => {
    let asked = 0;
    const host = await serve((req, res) => {
      asked++;
      res.writeHead(302, { location: `${req.url}x` }).end();
    });
    const s = session(host);
    const err = await s.request(`${s.base}/manifests/v1`).catch((e: unknown) => e);
    expect(asked).toBe(21);
    expect((err as Error).message).toMatch(/refused by the fetch: .*redirect/);
  });

  it('a redirect to a scheme that is not http(s) is asked once', async () => {
    let asked = 0;
    const host = await serve((_req, res) => {
      asked++;
      res.writeHead(302, { location: 'ftp://127.0.0.1/blob' }).end();
    });
    const s = session(host);
    const err = await s.request(`${s.base}/manifests/v1`).catch((e: unknown) => e);
    expect(asked).toBe(1);
    expect((err as Error).message).toMatch(/refused by the fetch: /);
  });

  it('a status that is not HTTP (600) is asked once', async () => {
    let asked = 0;
    const host = await rawServer((socket) => {
      asked++;
      socket.end('HTTP/1.1 600 Odd\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    const s = session(host);
    const err = await s.request(`${s.base}/manifests/v1`).catch((e: unknown) => e);
    expect(asked).toBe(1);
    expect(err).toBeInstanceOf(RegistryError);
    expect(mayPass(err)).toBe(false);
  });

  it('a connection reset is still asked again: 4 times in all', async () => {
    let asked = 0;
    const host = await rawServer((socket) => {
      asked++;
      socket.resetAndDestroy();
    });
    const s = session(host);
    const err = await s.request(`${s.base}/manifests/v1`).catch((e: unknown) => e);
    expect(asked).toBe(4);
    expect((err as Error).message).toMatch(/: no answer: .*ECONNRESET/);
    expect(mayPass(err)).toBe(true);
  });

  /** One manifest request to registry.invalid, 3 retries allowed: the fetches made, the error. */
  async function askInvalidHost(): Promise<{ asked: number; err: unknown }> {
    let asked = 0;
    const counted = ((...args: Parameters<typeof fetch>) => {
      asked++;
      return fetch(...args);
    }) as typeof fetch;
    const s = openSession(parseImageReference('registry.invalid/app'), 'pull', {
      plainHttp: true,
      fetch: counted,
      retries: 3,
      retryDelayMs: 1,
    });
    const err = await s.request(`${s.base}/manifests/v1`).catch((e: unknown) => e);
    return { asked, err };
  }

  it('a host name the resolver did not find is asked once, typed and named', async () => {
    const looked = failLookups('ENOTFOUND');
    const { asked, err } = await askInvalidHost();
    expect(asked).toBe(1);
    expect(looked).toContain('registry.invalid');
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toMatch(/: no such host: .*ENOTFOUND registry\.invalid/);
    expect(mayPass(err)).toBe(false);
  });

  it('a resolver that could not answer just then is asked again: 4 times in all', async () => {
    failLookups('EAI_AGAIN');
    const { asked, err } = await askInvalidHost();
    expect(asked).toBe(4);
    expect((err as Error).message).toMatch(/: no answer: .*EAI_AGAIN registry\.invalid/);
    expect(mayPass(err)).toBe(true);
  });

  it('an upload whose PUT is redirected is given up at once, not resumed', async () => {
    const data = new TextEncoder().encode('a blob');
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const asked: string[] = [];
    const host = await serve((req, res) => {
      asked.push(`${req.method} ${req.url?.split('?')[0]}`);
      req.resume();
      if (req.method === 'POST') {
        return res.writeHead(202, { location: '/v2/app/blobs/uploads/1' }).end();
      }
      if (req.method === 'PUT') return res.writeHead(307, { location: '/bucket/1' }).end();
      res.writeHead(404).end();
    });
    const s = openSession(parseImageReference(`${host}/app`), 'pull,push', {
      plainHttp: true,
      fetch,
      retries: 3,
      retryDelayMs: 1,
    });
    const err = await uploadBlob(
      { session: s, hash: webHashProvider(), has: async () => false },
      () => new Blob([data]).stream(),
      digest,
      data.length,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect(asked.filter((a) => a.startsWith('PUT'))).toEqual(['PUT /v2/app/blobs/uploads/1']);
  });
});

describe('refusedByFetch and hostNotFound', () => {
  it('tells refusals from network failures by the cause chain', () => {
    const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });
    const coded = (code: string) => Object.assign(new Error(code), { code });
    expect(refusedByFetch(fetchFailed(new Error('unexpected redirect')))).toBe(true);
    expect(refusedByFetch(fetchFailed(new Error('redirect count exceeded')))).toBe(true);
    expect(refusedByFetch(fetchFailed(coded('CERT_HAS_EXPIRED')))).toBe(true);
    expect(refusedByFetch(fetchFailed(coded('HPE_INVALID_CONSTANT')))).toBe(true);
    expect(refusedByFetch(coded('ERR_FETCH_REFUSED'))).toBe(true);
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'UND_ERR_SOCKET']) {
      expect(refusedByFetch(fetchFailed(coded(code))), code).toBe(false);
    }
    // Node's fetch for a name that does not exist, and for a resolver that could not answer.
    const lookupFailed = (code: string, errno: number) =>
      fetchFailed(
        Object.assign(new Error(`getaddrinfo ${code} registry.invalid`), {
          errno,
          code,
          syscall: 'getaddrinfo',
          hostname: 'registry.invalid',
        }),
      );
    expect(hostNotFound(lookupFailed('ENOTFOUND', -3008))).toBe(true);
    expect(hostNotFound(lookupFailed('EAI_AGAIN', -3001))).toBe(false);
    expect(refusedByFetch(lookupFailed('ENOTFOUND', -3008))).toBe(false);
    // Another platform's fetch says no more than this: asked again, as before.
    expect(refusedByFetch(new TypeError('Failed to fetch'))).toBe(false);
    const loop: { cause?: unknown } = new Error('loop');
    loop.cause = loop;
    expect(refusedByFetch(loop)).toBe(false);
  });
});
