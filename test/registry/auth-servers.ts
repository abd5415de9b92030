/**
 * The servers the pull tests talk to on 127.0.0.1: Debian's `docker-registry` (the Docker
 * distribution registry), a token service of the Docker token scheme for it, and a small
 * registry of our own serving an OCI layout, for what a real registry cannot be made to do.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createSign, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from './helpers.js';

/** A running distribution registry (Debian's `docker-registry`) on 127.0.0.1. */
export interface Registry {
  child: ChildProcess;
  /** `127.0.0.1:<port>`. */
  host: string;
  log: () => string;
}

/**
 * Starts `docker-registry` on a free port with its storage under `work/<name>`, and waits (at
 * most 20 s) until `/v2/` answers `upStatus` (401 when it wants credentials or tokens).
 * @param extra - more lines of its YAML configuration (`auth: ...`).
 */
export async function startRegistry(
  work: string,
  name: string,
  extra: string[] = [],
  upStatus = 200,
): Promise<Registry> {
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(work, `${name}.yml`);
  writeFileSync(
    config,
    [
      'version: 0.1',
      // Info, for its line per request: the tests count what was fetched.
      'log: {level: info}',
      `storage: {filesystem: {rootdirectory: ${join(work, name)}}}`,
      `http: {addr: "${host}"}`,
      ...extra,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  for (let i = 0; ; i++) {
    const status = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === upStatus) break;
    if (i === 200 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the registry did not come up: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, host, log: () => log };
}

/**
 * An environment in which the command line finds no auth file but under `dir/auth`
 * (podman's, skopeo's and docker's places, all moved there).
 */
export function noAuthFiles(dir: string): Record<string, string | undefined> {
  const home = join(dir, 'auth');
  return {
    HOME: home,
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_CONFIG_HOME: join(home, 'config'),
    DOCKER_CONFIG: join(home, 'docker'),
    REGISTRY_AUTH_FILE: undefined,
  };
}

/** A key and its self-signed certificate (for 127.0.0.1), made by `openssl`. */
export interface KeyPair {
  key: string;
  cert: string;
}

/** Makes an RSA key and a self-signed certificate for 127.0.0.1 under `dir` (once). */
export function makeKeyPair(dir: string, name: string): KeyPair {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  if (!existsSync(cert)) {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        `/CN=layerdiff test ${name}`,
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'pipe' },
    );
  }
  return { key, cert };
}

/** A request the token service answered. */
export interface Issued {
  /** `GET` (a password or anonymous) or `POST` (an OAuth2 refresh). */
  method: string;
  service: string | null;
  /** The scopes asked for, separated by spaces. */
  scope: string;
  /** Who it was given to: the user, or '' for anonymous; undefined when refused. */
  account: string | undefined;
}

/** A running token service. */
export interface TokenService {
  /** Its URL, for the registry's `realm`. */
  realm: string;
  /** The certificate its tokens are signed with, for the registry's `rootcertbundle`. */
  cert: string;
  /** What it was asked, in order. */
  issued: Issued[];
  close(): void;
}

/** What the token service takes. */
export interface TokenServiceOptions {
  /** Users and their passwords, taken as HTTP Basic on a `GET`. */
  users?: Record<string, string>;
  /** Refresh tokens and their users, taken in an OAuth2 `POST`. */
  refreshTokens?: Record<string, string>;
  /** Tokens for nobody. @default true */
  anonymous?: boolean;
}

/**
 * A token service of the Docker token scheme on 127.0.0.1: RS256 tokens for whatever a scope
 * asks, signed by a key whose self-signed certificate is the registry's root bundle (the
 * chain goes in `x5c`), given to the users, refresh tokens, and (unless told not to) anyone.
 */
export async function startTokenService(
  dir: string,
  options: TokenServiceOptions = {},
): Promise<TokenService> {
  const { key, cert } = makeKeyPair(dir, 'tokens');
  const der = new X509Certificate(readFileSync(cert)).raw.toString('base64');
  const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const issued: Issued[] = [];
  const sign = (account: string, service: string | null, scopes: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64url({ alg: 'RS256', typ: 'JWT', x5c: [der] });
    const claims = b64url({
      iss: 'layerdiff-test',
      sub: account,
      aud: service,
      exp: now + 600,
      nbf: now - 60,
      iat: now,
      jti: String(issued.length),
      access: scopes.map((scope) => {
        const [type, name, actions] = scope.split(':');
        return { type, name, actions: (actions ?? '').split(',') };
      }),
    });
    const signature = createSign('RSA-SHA256')
      .update(`${head}.${claims}`)
      .sign(readFileSync(key))
      .toString('base64url');
    return `${head}.${claims}.${signature}`;
  };
  const server = createHttpServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let params = url.searchParams;
    let account: string | undefined;
    if (req.method === 'POST') {
      let body = '';
      for await (const b of req) body += b;
      params = new URLSearchParams(body);
      const refresh = params.get('refresh_token') ?? '';
      if (params.get('grant_type') === 'refresh_token') {
        account = options.refreshTokens?.[refresh];
      }
    } else {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
      if (basic) {
        const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
        const colon = text.indexOf(':');
        const user = text.slice(0, colon);
        const known = options.users?.[user];
        if (colon > 0 && known !== undefined && known === text.slice(colon + 1)) account = user;
      } else if (options.anonymous !== false) {
        account = '';
      }
    }
    // Scopes: `scope` parameters of a GET; separated by spaces in an OAuth2 POST.
    const scopes = params
      .getAll('scope')
      .flatMap((s) => s.split(' '))
      .filter((s) => s !== '');
    const scope = scopes.join(' ');
    const service = params.get('service');
    issued.push({ method: req.method ?? '', service, scope, account });
    if (account === undefined) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"details":"incorrect username or password"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token: sign(account, service, scopes), expires_in: 600 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
    cert,
    issued,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * Starts `docker-registry` with token auth from `tokens` (service `test-registry`), waiting
 * until `/v2/` asks for a token.
 */
export function startTokenRegistry(
  work: string,
  name: string,
  tokens: TokenService,
): Promise<Registry> {
  return startRegistry(
    work,
    name,
    [
      `auth: {token: {realm: "${tokens.realm}", service: "test-registry", issuer: "layerdiff-test", rootcertbundle: "${tokens.cert}"}}`,
    ],
    401,
  );
}

/** What {@link serveLayout} hands a request it serves from the layout. */
export interface LayoutRequest {
  req: IncomingMessage;
  res: ServerResponse;
  kind: 'manifests' | 'blobs';
  /** The digest of what is asked (a tag resolved). */
  digest: string;
  bytes: Buffer;
}

/**
 * A registry of our own on 127.0.0.1 serving the OCI layout `src` as repository `x`: `/v2/`,
 * manifests by tag or digest, blobs. `intercept` sees every request first and answers it
 * itself by returning true; `tls` makes it HTTPS.
 */
export async function serveLayout(
  src: string,
  options: {
    intercept?: (req: IncomingMessage, res: ServerResponse) => boolean;
    lie?: (r: LayoutRequest) => boolean;
    tls?: KeyPair;
  } = {},
): Promise<{ server: Server; host: string; close(): void }> {
  const index = JSON.parse(readFileSync(join(src, 'index.json'), 'utf8'));
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (options.intercept?.(req, res)) return;
    const m = /^\/v2\/x\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
    if (req.url === '/v2/') return res.end('{}');
    if (!m) return res.writeHead(404).end();
    let digest = m[2]!;
    if (m[1] === 'manifests' && !digest.startsWith('sha256:')) {
      const d = index.manifests.find(
        (x: { annotations: Record<string, string> }) =>
          x.annotations['org.opencontainers.image.ref.name'] === digest,
      );
      if (!d) return res.writeHead(404).end();
      digest = d.digest;
    }
    const file = join(src, 'blobs/sha256', digest.slice(7));
    if (!existsSync(file)) return res.writeHead(404).end();
    const bytes = readFileSync(file);
    const kind = m[1] as 'manifests' | 'blobs';
    if (options.lie?.({ req, res, kind, digest, bytes })) return;
    res.writeHead(200, { 'content-length': bytes.length }).end(bytes);
  };
  const server = options.tls
    ? createHttpsServer(
        { key: readFileSync(options.tls.key), cert: readFileSync(options.tls.cert) },
        handle,
      )
    : createHttpServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
