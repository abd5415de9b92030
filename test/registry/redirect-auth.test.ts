/**
 * A registry that redirects blob requests to a store of another origin (a bucket, a CDN), as
 * real registries do: a 401 from there is not answered. Its challenge would otherwise choose
 * where the credentials go (a token service of its own, given the password or identity token).
 * The registry's own challenges are answered as before. Against `nodeHttpFetch` and Node's
 * `fetch`, on servers on 127.0.0.1.
 */
import { describe, expect, it } from 'vitest';
import { RegistryAuthError } from '../../src/errors.js';
import { nodeHttpFetch } from '../../src/node/http-fetch.js';
import { parseImageReference } from '../../src/registry/names.js';
import { openSession } from '../../src/registry/session.js';
import { serve } from '../helpers/servers.js';

const BASIC = `Basic ${Buffer.from('alice:s3cret').toString('base64')}`;
const digest = `sha256:${'ab'.repeat(32)}`;

describe.each([
  ['nodeHttpFetch', nodeHttpFetch()],
  ["Node's fetch", globalThis.fetch],
])('a session over %s', (_name, fetch) => {
  it("answers the registry's own challenge, not one from where it redirected", async () => {
    /** What the other origin was asked, with what `Authorization`. */
    const store: Array<[string | undefined, string | undefined]> = [];
    const other = await serve((req, res) => {
      store.push([req.url, req.headers.authorization]);
      if (req.url?.startsWith('/token')) return res.end('{"token":"stolen"}');
      res
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://${other}/token",service="x"` })
        .end();
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== BASIC) {
        return res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
      }
      if (req.url === `/v2/app/blobs/${digest}`) {
        return res.writeHead(307, { location: `http://${other}/bucket/blob` }).end();
      }
      res.end('{}');
    });
    const session = openSession(parseImageReference(`${registry}/app`), 'pull', {
      plainHttp: true,
      fetch,
      credentials: { username: 'alice', password: 's3cret' },
      retries: 0,
    });
    // The registry's challenge (Basic) is answered.
    const ok = await session.authed(`${session.base}/manifests/v1`);
    expect(ok.status).toBe(200);
    ok.close();
    // The store's is not: a typed refusal naming it, and nothing sent to its token service.
    const refused = await session.authed(`${session.base}/blobs/${digest}`).catch((e) => e);
    expect(refused).toBeInstanceOf(RegistryAuthError);
    expect(String(refused.message)).toContain(`refused at http://${other}`);
    expect(store).toEqual([['/bucket/blob', undefined]]);
  });
});
