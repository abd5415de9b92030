/**
 * `layerdiff oci pull` from registries that ask for credentials: Debian's `docker-registry`
 * with htpasswd (HTTP Basic) and with token auth from a token service that wants a password
 * or a refresh token; the credentials given with `--username`/`--password-stdin`, in auth
 * files (podman's and docker's places, `--authfile`) and by a credential helper. Then, from a
 * registry of our own: tokens that expire mid-pull, blobs redirected to another origin, and
 * HTTPS (with a token service on plain HTTP, which gets no credentials).
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeHttpFetch } from '../../src/node/http-fetch.js';
import { registryLayout } from '../../src/registry/client.js';
import { requireDist, runCli } from '../cli/run.js';
import { toolsAvailable } from '../helpers/tools.js';
import {
  makeKeyPair,
  noAuthFiles,
  type Registry,
  serveLayout,
  startRegistry,
  startTokenRegistry,
  startTokenService,
  type TokenService,
} from './auth-servers.js';
import { buildImages } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-auth-'));
const store = join(work, 'store');
const USER = 'ann';
const PASSWORD = 'pä:ss word';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const skopeo = (...args: string[]) =>
  promisify(execFile)('skopeo', args, { timeout: 60_000 }).then((r) => r.stdout);
let src: string;
let n = 0;

/** Writes `json` as a file under `work` and gives its path. */
function jsonFile(name: string, json: unknown): string {
  const path = join(work, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, JSON.stringify(json));
  return path;
}

/**
 * `oci pull` with `args` (and the environment of {@link noAuthFiles} over `env`), then, when
 * it worked, `oci restore`; gives both, and whether the restored image is `src`'s.
 */
async function pull(
  reference: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; stdin?: string } = {},
) {
  const out = join(work, `pulled-${++n}`);
  const pulled = await runCli(['oci', 'pull', reference, '--store', store, '--out', out, ...args], {
    timeoutMs: 60_000,
    env: { ...noAuthFiles(work), ...options.env },
    ...(options.stdin !== undefined ? { stdin: Buffer.from(options.stdin) } : {}),
  });
  if (pulled.code !== 0) return { pulled, out, same: false };
  const restored = join(work, `restored-${n}`);
  const r = await runCli(['oci', 'restore', out, '--store', store, '--out', restored]);
  expect(r.stderr).toBe('');
  const same =
    (await skopeo('inspect', '--raw', `oci:${restored}:exact`)) ===
    (await skopeo('inspect', '--raw', `oci:${src}:exact`));
  return { pulled, out, same };
}

/** {@link pull} as `USER`, the password (`PASSWORD` unless given) on stdin. */
function pullAs(
  reference: string,
  options: {
    password?: string;
    plainHttp?: boolean;
    env?: Record<string, string | undefined>;
  } = {},
) {
  const plain = options.plainHttp === false ? [] : ['--plain-http'];
  return pull(reference, [...plain, '--username', USER, '--password-stdin'], {
    stdin: options.password ?? PASSWORD,
    ...(options.env ? { env: options.env } : {}),
  });
}

/** Expects `reference` (read by skopeo as `USER`) to be the `exact` image of `src`, byte for byte. */
async function expectPushed(reference: string) {
  expect(
    await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `--creds=${USER}:${PASSWORD}`,
      `docker://${reference}`,
    ),
  ).toBe(await skopeo('inspect', '--raw', `oci:${src}:exact`));
}

/** Expects a failed pull: exit 1, `error` on stderr, nothing at `--out`. */
function refused(r: Awaited<ReturnType<typeof pull>>, error: RegExp) {
  expect(r.pulled.code, r.pulled.stderr).toBe(1);
  expect(r.pulled.stderr).toMatch(error);
  expect(existsSync(r.out)).toBe(false);
}

/** `oci push` of a pulled (chunked) layout's `exact` image to `target`. */
function pushTo(
  chunked: string,
  target: string,
  args: string[],
  options: { env?: Record<string, string | undefined>; stdin?: string } = {},
) {
  return runCli(['oci', 'push', `${chunked}:exact`, target, '--store', store, ...args], {
    timeoutMs: 60_000,
    env: { ...noAuthFiles(work), ...options.env },
    ...(options.stdin !== undefined ? { stdin: Buffer.from(options.stdin) } : {}),
  });
}

beforeAll(() => {
  requireDist();
  ({ src } = buildImages(work));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const withRegistry = toolsAvailable('docker-registry', 'skopeo', 'python3', 'gzip', 'openssl');

describe.runIf(withRegistry)('oci pull with HTTP Basic (docker-registry with htpasswd)', () => {
  let registry: Registry;
  let host: string;
  beforeAll(async () => {
    // The registry takes bcrypt only: Python's crypt (libxcrypt) makes it.
    const hash = (
      await promisify(execFile)('python3', [
        '-W',
        'ignore',
        '-c',
        'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))',
        PASSWORD,
      ])
    ).stdout.trim();
    expect(hash).toMatch(/^\$2b\$/);
    const htpasswd = join(work, 'htpasswd');
    writeFileSync(htpasswd, `${USER}:${hash}\n`);
    registry = await startRegistry(
      work,
      'basic-data',
      [`auth: {htpasswd: {realm: "layerdiff-test", path: "${htpasswd}"}}`],
      401,
    );
    host = registry.host;
    await skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `--dest-creds=${USER}:${PASSWORD}`,
      `oci:${src}:exact`,
      `docker://${host}/test/img:exact`,
    );
  }, 90_000);
  afterAll(() => {
    registry?.child.kill('SIGKILL');
  });

  it('takes --username with the password on stdin', async () => {
    // With the newline echo leaves, which is not part of it.
    const r = await pullAs(`${host}/test/img:exact`, { password: `${PASSWORD}\n` });
    expect(r.pulled.code, `${r.pulled.stderr}\n${registry.log().slice(-2000)}`).toBe(0);
    expect(r.same).toBe(true);
  });

  it('finds credentials in --authfile, in auth.json and docker config.json, keyed as each writes them', async () => {
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    // podman login writes host keys; skopeo --authfile the same.
    const authfile = jsonFile('authfile.json', { auths: { [host]: { auth } } });
    const byFile = await pull(`${host}/test/img:exact`, ['--plain-http', '--authfile', authfile]);
    expect(byFile.pulled.code, byFile.pulled.stderr).toBe(0);
    expect(byFile.same).toBe(true);
    // auth.json may key a namespace of the registry; its place is $REGISTRY_AUTH_FILE here.
    const namespaced = jsonFile('ns/auth.json', {
      auths: { [`${host}/other`]: { auth: 'bm86bm8=' }, [`${host}/test`]: { auth } },
    });
    const byNamespace = await pull(`${host}/test/img:exact`, ['--plain-http'], {
      env: { REGISTRY_AUTH_FILE: namespaced },
    });
    expect(byNamespace.pulled.code, byNamespace.pulled.stderr).toBe(0);
    // docker login writes a scheme before the host, and may keep username and password apart.
    const dockerDir = join(work, 'docker-plain');
    jsonFile('docker-plain/config.json', {
      auths: { [`http://${host}`]: { username: USER, password: PASSWORD } },
    });
    const byDocker = await pull(`${host}/test/img:exact`, ['--plain-http'], {
      env: { DOCKER_CONFIG: dockerDir },
    });
    expect(byDocker.pulled.code, byDocker.pulled.stderr).toBe(0);
  });

  it('asks a credential helper named in credHelpers, as docker does', async () => {
    const bin = join(work, 'bin');
    mkdirSync(bin, { recursive: true });
    const asked = join(work, 'helper-asked');
    const helper = join(bin, 'docker-credential-layerdiff-test');
    writeFileSync(
      helper,
      [
        '#!/bin/sh',
        `[ "$1" = get ] || exit 3`,
        `cat > '${asked}'`,
        `printf '%s' '${JSON.stringify({ ServerURL: host, Username: USER, Secret: PASSWORD })}'`,
        '',
      ].join('\n'),
    );
    chmodSync(helper, 0o755);
    const dockerDir = join(work, 'docker-helper');
    jsonFile('docker-helper/config.json', {
      auths: { [host]: {} },
      credHelpers: { [host]: 'layerdiff-test' },
    });
    const env = { DOCKER_CONFIG: dockerDir, PATH: `${bin}:${process.env.PATH}` };
    const r = await pull(`${host}/test/img:exact`, ['--plain-http'], { env });
    expect(r.pulled.code, r.pulled.stderr).toBe(0);
    expect(r.same).toBe(true);
    expect(readFileSync(asked, 'utf8')).toBe(`${host}\n`);

    // A helper that fails is named; one that has nothing for the registry means anonymous.
    writeFileSync(helper, '#!/bin/sh\necho "keychain locked" >&2\nexit 1\n');
    refused(
      await pull(`${host}/test/img:exact`, ['--plain-http'], { env }),
      /ERR_REGISTRY_AUTH: docker-credential-layerdiff-test: exited 1: "keychain locked"/,
    );
    writeFileSync(helper, '#!/bin/sh\necho "credentials not found in native keychain"\nexit 1\n');
    refused(
      await pull(`${host}/test/img:exact`, ['--plain-http'], { env }),
      /ERR_REGISTRY_AUTH: .*asks for a username and password \(HTTP Basic\): none given/,
    );
  });

  it('pushes with the same credentials, and refuses a push without them', async () => {
    const { out } = await pullAs(`${host}/test/img:exact`);
    const anonymous = await pushTo(out, `${host}/test/pushed:x`, ['--plain-http']);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/ERR_REGISTRY_AUTH: .*asks for a username and password/);
    const r = await pushTo(
      out,
      `${host}/test/pushed:x`,
      ['--plain-http', '--username', USER, '--password-stdin'],
      { stdin: PASSWORD },
    );
    expect(r.code, r.stderr).toBe(0);
    await expectPushed(`${host}/test/pushed:x`);
  });

  it('refuses with no credentials, wrong ones or a malformed auth file; nothing is left', async () => {
    refused(
      await pull(`${host}/test/img:exact`, ['--plain-http']),
      /ERR_REGISTRY_AUTH: http:\/\/127\.0\.0\.1:\d+\/v2\/test\/img\/manifests\/exact: asks for a username and password/,
    );
    refused(
      await pullAs(`${host}/test/img:exact`, { password: 'wrong' }),
      /ERR_REGISTRY_AUTH: .*manifests\/exact: refused the credentials/,
    );
    const malformed = [
      ['not json', '{', /is not JSON/],
      ['auths not an object', '{"auths": []}', /"auths" is not an object/],
      [
        'auth not base64',
        `{"auths": {"${host}": {"auth": "a!b"}}}`,
        /auths\[.*\]: "auth" is not base64$/m,
      ],
      [
        'auth with no colon',
        `{"auths": {"${host}": {"auth": "YWJj"}}}`,
        /not base64 of user:password/,
      ],
      ['auth not UTF-8', `{"auths": {"${host}": {"auth": "/w=="}}}`, /not base64 of UTF-8 text/],
    ] as const;
    for (const [name, text, error] of malformed) {
      const file = join(work, `bad-${name.replace(/ /g, '-')}.json`);
      writeFileSync(file, text);
      const r = await pull(`${host}/test/img:exact`, ['--plain-http', '--authfile', file]);
      refused(r, new RegExp(`ERR_REGISTRY_AUTH: ${file}`));
      expect(r.pulled.stderr, name).toMatch(error);
    }
    refused(
      await pull(`${host}/test/img:exact`, [
        '--plain-http',
        '--authfile',
        join(work, 'absent.json'),
      ]),
      /ERR_REGISTRY_AUTH: .*absent\.json: no such auth file/,
    );
    const usage = await pull(`${host}/test/img:exact`, ['--plain-http', '--username', USER]);
    expect(usage.pulled.code).toBe(2);
    expect(usage.pulled.stderr).toMatch(/--username and --password-stdin go together/);
  });
});

describe.runIf(withRegistry)(
  'oci pull with tokens for credentials (docker-registry with token auth)',
  () => {
    let registry: Registry;
    let tokens: TokenService;
    let host: string;
    beforeAll(async () => {
      tokens = await startTokenService(work, {
        users: { [USER]: PASSWORD },
        refreshTokens: { 'refresh-ann': USER },
        anonymous: false,
      });
      registry = await startTokenRegistry(work, 'token-data', tokens);
      host = registry.host;
      await skopeo(
        'copy',
        '--preserve-digests',
        '--dest-tls-verify=false',
        `--dest-creds=${USER}:${PASSWORD}`,
        `oci:${src}:exact`,
        `docker://${host}/test/img:exact`,
      );
    }, 90_000);
    afterAll(() => {
      registry?.child.kill('SIGKILL');
      tokens?.close();
    });

    it('sends the password to the token service, once, and pulls byte for byte', async () => {
      tokens.issued.length = 0;
      const r = await pullAs(`${host}/test/img:exact`);
      expect(r.pulled.code, r.pulled.stderr).toBe(0);
      expect(r.same).toBe(true);
      expect(tokens.issued).toEqual([
        {
          method: 'GET',
          service: 'test-registry',
          scope: 'repository:test/img:pull',
          account: USER,
        },
      ]);
    });

    it('exchanges an identity token (docker login identitytoken) for access tokens', async () => {
      tokens.issued.length = 0;
      const authfile = jsonFile('identity.json', {
        auths: { [host]: { identitytoken: 'refresh-ann' } },
      });
      const r = await pull(`${host}/test/img:exact`, ['--plain-http', '--authfile', authfile]);
      expect(r.pulled.code, r.pulled.stderr).toBe(0);
      expect(r.same).toBe(true);
      expect(tokens.issued).toEqual([
        {
          method: 'POST',
          service: 'test-registry',
          scope: 'repository:test/img:pull',
          account: USER,
        },
      ]);
    });

    it('pushes with one token for pull and push; mounts from the repository pulled from', async () => {
      const authfile = jsonFile('identity-push.json', {
        auths: { [host]: { identitytoken: 'refresh-ann' } },
      });
      const creds = ['--plain-http', '--authfile', authfile];
      // A layout converted here names no repository to mount from: its blobs are uploaded.
      const local = join(work, 'local-chunked');
      const c = await runCli(['oci', 'convert', src, '--store', store, '--out', local]);
      expect(c.code, c.stderr).toBe(0);
      tokens.issued.length = 0;
      const up = await pushTo(local, `${host}/test/uploaded:y`, creds);
      expect(up.code, up.stderr).toBe(0);
      // The blob checks' challenge names pull; the session asks for push too, in the same
      // token, so the uploads need no other.
      expect(tokens.issued.map((i) => i.scope)).toEqual(['repository:test/uploaded:pull,push']);
      expect(up.stdout.toString()).toMatch(/3 blobs uploaded \(\d+ bytes\), 0 already there\n/);

      // A layout pulled from this registry: its blobs are mounted from where it was pulled,
      // with a token that may pull from there too.
      const { out } = await pull(`${host}/test/img:exact`, creds);
      tokens.issued.length = 0;
      const r = await pushTo(out, `${host}/test/pushed:y`, creds);
      expect(r.code, r.stderr).toBe(0);
      expect(tokens.issued.map((i) => i.scope)).toEqual([
        'repository:test/pushed:pull,push repository:test/img:pull',
      ]);
      expect(tokens.issued.every((i) => i.account === USER)).toBe(true);
      expect(r.stdout.toString()).toMatch(
        /0 blobs uploaded \(0 bytes\), 0 already there, 3 mounted from other repositories/,
      );
      await expectPushed(`${host}/test/pushed:y`);
    });

    it('refuses when the token service gives nothing to anonymous or wrong credentials', async () => {
      refused(
        await pull(`${host}/test/img:exact`, ['--plain-http']),
        /ERR_REGISTRY_AUTH: http:\/\/127\.0\.0\.1:\d+\/token\?.*: gives no anonymous token: credentials are needed/,
      );
      refused(
        await pullAs(`${host}/test/img:exact`, { password: 'wrong' }),
        /ERR_REGISTRY_AUTH: http:\/\/127\.0\.0\.1:\d+\/token\?.*account=ann: refused the credentials/,
      );
    });
  },
);

describe.runIf(toolsAvailable('skopeo', 'python3', 'gzip', 'openssl'))(
  'oci pull, what a real registry cannot be made to do',
  () => {
    it('renews tokens that expire during a pull, at most one token request for each refusal', async () => {
      let given = 0;
      const uses = new Map<string, number>();
      let unauthorized = 0;
      const served = await serveLayout(src, {
        intercept(req, res) {
          const url = new URL(req.url ?? '/', 'http://x');
          if (url.pathname === '/token') {
            if (req.headers.authorization !== basic(USER, PASSWORD)) {
              res.writeHead(401).end();
              return true;
            }
            res.end(JSON.stringify({ token: `tok-${++given}` }));
            return true;
          }
          // Each token is good for two requests.
          const token = /^Bearer (tok-\d+)$/.exec(req.headers.authorization ?? '')?.[1];
          const used = token === undefined ? 2 : (uses.get(token) ?? 0);
          if (used >= 2) {
            unauthorized++;
            res
              .writeHead(401, {
                'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="s"`,
              })
              .end();
            return true;
          }
          uses.set(token!, used + 1);
          return false;
        },
      });
      try {
        const r = await pullAs(`${served.host}/x:exact`);
        expect(r.pulled.code, r.pulled.stderr).toBe(0);
        expect(r.same).toBe(true);
        // The manifest, the config and two layers: five requests or more, so three tokens or
        // more, and never more than the refusals (requests refused together share a renewal).
        expect(given).toBeGreaterThanOrEqual(3);
        expect(given).toBeLessThanOrEqual(unauthorized);
      } finally {
        served.close();
      }
    });

    it('renews once for requests refused together', async () => {
      let given = 0;
      let valid = '';
      const served = await serveLayout(src, {
        intercept(req, res) {
          if (req.url?.startsWith('/token')) {
            valid = `tok-${++given}`;
            res.end(JSON.stringify({ token: valid }));
            return true;
          }
          if (req.headers.authorization === `Bearer ${valid}`) return false;
          const challenge = `Bearer realm="http://${req.headers.host}/token",service="s"`;
          res.writeHead(401, { 'www-authenticate': challenge }).end();
          return true;
        },
      });
      try {
        const layout = await registryLayout(`${served.host}/x:exact`, {
          plainHttp: true,
          credentials: { username: USER, password: PASSWORD },
        });
        expect(given).toBe(1);
        const { manifest } = await layout.readManifest(layout.select('exact')[0]!);
        valid = 'expired';
        await Promise.all(manifest.layers.map((d) => layout.checkBlob(d)));
        expect(manifest.layers.length).toBeGreaterThan(1);
        expect(given).toBe(2);
      } finally {
        served.close();
      }
    });

    it('does not follow a token service that redirects a request carrying credentials', async () => {
      const elsewhere: string[] = [];
      const other = await serveLayout(src, {
        intercept(req, res) {
          elsewhere.push(`${req.method} ${req.url}`);
          res.end('{"token":"t"}');
          return true;
        },
      });
      const served = await serveLayout(src, {
        intercept(req, res) {
          if (req.url?.startsWith('/token')) {
            res.writeHead(307, { location: `http://${other.host}/steal` }).end();
            return true;
          }
          const challenge = `Bearer realm="http://${req.headers.host}/token",service="s"`;
          res.writeHead(401, { 'www-authenticate': challenge }).end();
          return true;
        },
      });
      try {
        for (const fetchImpl of [nodeHttpFetch(), globalThis.fetch]) {
          await expect(
            registryLayout(`${served.host}/x:exact`, {
              plainHttp: true,
              fetch: fetchImpl,
              credentials: { identityToken: 'refresh-secret' },
            }),
          ).rejects.toMatchObject({ code: 'ERR_REGISTRY' });
        }
        expect(elsewhere).toEqual([]);
      } finally {
        served.close();
        other.close();
      }
    });

    it('sends no Authorization to another origin a blob is redirected to', async () => {
      const seen: Array<string | undefined> = [];
      const blobStore = await serveLayout(src, {
        intercept(req) {
          seen.push(req.headers.authorization);
          return false;
        },
      });
      let registryAuth = 0;
      const registry = await serveLayout(src, {
        intercept(req, res) {
          if (req.headers.authorization !== basic(USER, PASSWORD)) {
            res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' }).end();
            return true;
          }
          registryAuth++;
          if (req.url?.startsWith('/v2/x/blobs/')) {
            res.writeHead(307, { location: `http://${blobStore.host}${req.url}` }).end();
            return true;
          }
          return false;
        },
      });
      try {
        const r = await pullAs(`${registry.host}/x:exact`);
        expect(r.pulled.code, r.pulled.stderr).toBe(0);
        expect(r.same).toBe(true);
        expect(registryAuth).toBeGreaterThan(3);
        expect(seen.length).toBeGreaterThanOrEqual(3);
        expect(seen.every((a) => a === undefined)).toBe(true);
      } finally {
        registry.close();
        blobStore.close();
      }
    });

    it('pulls over HTTPS, and sends no credentials to a token service on plain HTTP', async () => {
      const tls = makeKeyPair(work, 'registry-tls');
      const env = { NODE_EXTRA_CA_CERTS: tls.cert };
      let realm = '';
      const realmAsked: string[] = [];
      const insecureTokens = await serveLayout(src, {
        intercept(req, res) {
          realmAsked.push(req.url ?? '');
          res.end('{"token":"t"}');
          return true;
        },
      });
      const registry = await serveLayout(src, {
        tls,
        intercept(req, res) {
          const url = new URL(req.url ?? '/', 'https://x');
          if (url.pathname === '/token') {
            if (req.headers.authorization !== basic(USER, PASSWORD)) res.writeHead(401).end();
            else res.end('{"token":"good"}');
            return true;
          }
          if (req.headers.authorization === 'Bearer good') return false;
          res.writeHead(401, { 'www-authenticate': `Bearer realm="${realm}",service="s"` }).end();
          return true;
        },
      });
      try {
        realm = `https://${registry.host}/token`;
        const ok = await pullAs(`${registry.host}/x:exact`, { plainHttp: false, env });
        expect(ok.pulled.code, ok.pulled.stderr).toBe(0);
        expect(ok.same).toBe(true);

        realm = `http://${insecureTokens.host}/token`;
        refused(
          await pullAs(`${registry.host}/x:exact`, { plainHttp: false, env }),
          /ERR_REGISTRY_AUTH: http:\/\/127\.0\.0\.1:\d+\/token: the registry is HTTPS but names a plain HTTP token service; credentials are not sent there/,
        );
        expect(realmAsked).toEqual([]);
      } finally {
        registry.close();
        insecureTokens.close();
      }
    });
  },
);
