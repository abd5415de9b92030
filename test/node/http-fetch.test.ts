/**
 * `nodeHttpFetch` against real servers on 127.0.0.1: bodies both ways, redirects (and what
 * does not follow them to another origin), aborts.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { nodeHttpFetch } from '../../src/node/http-fetch.js';
import { serve as serveOn } from '../helpers/servers.js';

/** A server on 127.0.0.1 until the test ends; gives its origin. */
const serve = async (handle: Parameters<typeof serveOn>[0]) => `http://${await serveOn(handle)}`;

/** What a request brought: method, headers, body. */
async function received(req: IncomingMessage) {
  const chunks: Buffer[] = [];
  for await (const b of req) chunks.push(b as Buffer);
  return { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) };
}

const f = nodeHttpFetch();

describe('nodeHttpFetch', () => {
  it('streams bodies both ways, with headers and status', async () => {
    const seen: Awaited<ReturnType<typeof received>>[] = [];
    const origin = await serve(async (req, res) => {
      seen.push(await received(req));
      res.setHeader('x-many', ['a', 'b']);
      res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-type': 'text/plain' });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(100_000));
    });
    const got = await f(`${origin}/a`, { headers: { 'x-one': '1' } });
    expect(got.status).toBe(200);
    expect(got.headers.get('x-many')).toBe('a, b');
    expect((await got.text()).length).toBe(100_000);
    expect(seen[0]!.headers['x-one']).toBe('1');

    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 10) c.enqueue(new Uint8Array(50_000).fill(n));
        else c.close();
      },
    });
    const put = await f(`${origin}/b`, {
      method: 'PUT',
      body,
      duplex: 'half',
      headers: { 'content-length': '500000' },
    } as RequestInit);
    expect(put.status).toBe(201);
    await put.arrayBuffer();
    expect(seen[1]!.body.length).toBe(500_000);
    expect(seen[1]!.headers['content-length']).toBe('500000');
    expect(seen[1]!.body[499_999]).toBe(10);

    const head = await f(`${origin}/c`, { method: 'HEAD' });
    expect(head.body).toBeNull();
  });

  it('fails the request when a stream body fails', async () => {
    const origin = await serve(async (req, res) => {
      await received(req).catch(() => {});
      res.end();
    });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10));
      },
      pull(c) {
        c.error(new Error('the source broke'));
      },
    });
    await expect(
      f(`${origin}/x`, { method: 'PUT', body, duplex: 'half' } as RequestInit),
    ).rejects.toThrow('the source broke');
  });

  it('follows redirects; credentials and cookies stay with their origin', async () => {
    const seen: Array<{
      url?: string;
      auth?: string;
      cookie?: string;
      method?: string;
      body: string;
    }> = [];
    const other = await serve(async (req, res) => {
      const r = await received(req);
      seen.push({
        url: `other${r.url}`,
        auth: r.headers.authorization,
        cookie: r.headers.cookie,
        method: r.method,
        body: r.body.toString(),
      });
      res.end('there');
    });
    const origin = await serve(async (req, res) => {
      const r = await received(req);
      seen.push({
        url: r.url,
        auth: r.headers.authorization,
        cookie: r.headers.cookie,
        method: r.method,
        body: r.body.toString(),
      });
      if (r.url === '/same') return res.writeHead(307, { location: '/end' }).end();
      if (r.url === '/away') return res.writeHead(302, { location: `${other}/x` }).end();
      if (r.url === '/see-other') return res.writeHead(303, { location: '/end' }).end();
      if (r.url === '/file') return res.writeHead(302, { location: 'file:///etc/passwd' }).end();
      if (r.url?.startsWith('/loop')) return res.writeHead(302, { location: '/loop' }).end();
      res.end('here');
    });
    const headers = { authorization: 'Bearer t', cookie: 'c=1' };
    expect(await (await f(`${origin}/same`, { headers })).text()).toBe('here');
    expect(seen.splice(0).map((s) => [s.url, s.auth])).toEqual([
      ['/same', 'Bearer t'],
      ['/end', 'Bearer t'],
    ]);
    expect(await (await f(`${origin}/away`, { headers })).text()).toBe('there');
    expect(seen.splice(0)).toMatchObject([
      { url: '/away', auth: 'Bearer t', cookie: 'c=1' },
      { url: 'other/x', auth: undefined, cookie: undefined },
    ]);
    const posted = await f(`${origin}/see-other`, { method: 'POST', body: 'form' });
    expect(posted.status).toBe(200);
    expect(seen.splice(0)).toMatchObject([
      { url: '/see-other', method: 'POST', body: 'form' },
      { url: '/end', method: 'GET', body: '' },
    ]);
    await expect(f(`${origin}/same`, { redirect: 'error' })).rejects.toThrow(/redirected/);
    expect((await f(`${origin}/same`, { redirect: 'manual' })).status).toBe(307);
    await expect(f(`${origin}/file`)).rejects.toThrow(/not http\(s\)/);
    await expect(f(`${origin}/loop`)).rejects.toThrow(/more than 20 redirects/);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(3));
        c.close();
      },
    });
    await expect(
      f(`${origin}/same`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit),
    ).rejects.toThrow(/stream body/);
  });

  it('gives the URL that answered, after redirects', async () => {
    const other = await serve((_req, res) => res.end('there'));
    const origin = await serve((_req, res) => res.writeHead(302, { location: `${other}/x` }).end());
    const res = await f(`${origin}/away`);
    expect(res.url).toBe(`${other}/x`);
    expect((await f(`${other}/y`)).url).toBe(`${other}/y`);
  });

  it("ends a redirect's connection rather than reading a body that does not end", async () => {
    let closed = false;
    const other = await serve((_req, res) => res.end('there'));
    const origin = await serve((req, res) => {
      req.socket.once('close', () => {
        closed = true;
      });
      res.writeHead(302, { location: `${other}/x`, 'content-length': '1000000' });
      res.write('x'); // and nothing more
    });
    expect(await (await f(`${origin}/away`)).text()).toBe('there');
    for (let i = 0; i < 200 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });

  it('refuses a status outside 200-599 and ends its connection', async () => {
    let closed = false;
    const origin = await serve((req, res) => {
      req.socket.once('close', () => {
        closed = true;
      });
      res.writeHead(600, { 'content-length': '1000000' });
      res.write('x'); // and nothing more
    });
    await expect(f(`${origin}/odd`)).rejects.toThrow(/status 600/);
    for (let i = 0; i < 200 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
    expect(closed).toBe(true);
  });

  it('gives up on abort, before the answer and in its body', async () => {
    const origin = await serve((req, res) => {
      if (req.url === '/slow') return; // never answers
      res.writeHead(200);
      res.write('first');
    });
    const ac = new AbortController();
    const pending = f(`${origin}/slow`, { signal: ac.signal });
    const reason = new Error('given up');
    setTimeout(() => ac.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);

    const ac2 = new AbortController();
    const res = await f(`${origin}/body`, { signal: ac2.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first');
    ac2.abort(new Error('stop'));
    await expect(reader.read()).rejects.toBeDefined();
  });

  it('takes only URLs', async () => {
    await expect(f(new Request('http://127.0.0.1:9/'))).rejects.toThrow(/takes a URL/);
  });
});
