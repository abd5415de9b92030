/**
 * Registry credentials where podman, skopeo and docker keep them: `auth.json` files
 * (containers-auth.json(5)) and docker's `config.json`, with their credential helpers
 * (`docker-credential-<name>`).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { RegistryAuthError } from '../errors.js';
import type { CredentialSource, RegistryCredentials } from '../registry/credentials.js';

/** Options of {@link authFileCredentials}. */
export interface AuthFileOptions {
  /** Read this file only (podman's and skopeo's `--authfile`). */
  authFile?: string;
  /** The environment the default files are found by. @default process.env */
  env?: Record<string, string | undefined>;
  /** The user id podman's default auth file is found by without `XDG_RUNTIME_DIR`. @default process.getuid() */
  uid?: number;
  /** A credential helper that takes longer is stopped (`ERR_REGISTRY_AUTH`). @default 30000 */
  helperTimeoutMs?: number;
}

/** Largest auth file read. */
const MAX_FILE = 1 << 20;
/** Largest answer of a credential helper read. */
const MAX_HELPER_OUTPUT = 1 << 16;
/** The key and helper server URL docker uses for Docker Hub. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_NAMES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * The auth files looked in, in order: `authFile` alone when given; otherwise
 * `$REGISTRY_AUTH_FILE` (or `$XDG_RUNTIME_DIR/containers/auth.json`, or without it
 * `/run/containers/<uid>/auth.json`),
 * `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`, and `${DOCKER_CONFIG:-~/.docker}/config.json`,
 * as containers/image looks.
 */
export function authFilePaths(options: AuthFileOptions = {}): string[] {
  if (options.authFile !== undefined) return [options.authFile];
  const env = options.env ?? process.env;
  const home = env.HOME || homedir();
  const uid = options.uid ?? process.getuid?.();
  const paths: string[] = [];
  if (env.REGISTRY_AUTH_FILE) paths.push(env.REGISTRY_AUTH_FILE);
  else if (env.XDG_RUNTIME_DIR) paths.push(join(env.XDG_RUNTIME_DIR, 'containers/auth.json'));
  else if (uid !== undefined) paths.push(`/run/containers/${uid}/auth.json`);
  paths.push(join(env.XDG_CONFIG_HOME || join(home, '.config'), 'containers/auth.json'));
  paths.push(join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'));
  return paths;
}

/**
 * Credentials as podman, skopeo and docker keep them. In each of {@link authFilePaths} in
 * turn, for the registry (and, as `auth.json` allows, for the repository or a namespace of it,
 * the longest first):
 * 1. `credHelpers[registry]`: runs `docker-credential-<name> get`;
 * 2. `credsStore`: runs that helper (docker keeps its credentials there, naming the registry
 *    in `auths` with an empty entry);
 * 3. an `auths` entry with `auth` (base64 of `user:password`), `username` and `password`, or
 *    `identitytoken`.
 *
 * Keys may be written with a scheme and docker's `/v1/` path (`https://index.docker.io/v1/`
 * is Docker Hub; such a key names a registry, never a namespace). A file that is absent is skipped; one that is malformed, or a helper that
 * fails otherwise than by having nothing for the registry, is {@link RegistryAuthError}.
 * @param options - the file to read instead, the environment, the helper timeout.
 * @returns a source for `registryLayout`'s `credentials`.
 */
export function authFileCredentials(options: AuthFileOptions = {}): CredentialSource {
  return async (registry, repository) => {
    for (const path of authFilePaths(options)) {
      const file = readAuthFile(path, options.authFile !== undefined);
      if (!file) continue;
      const found = await credentialsIn(file, path, registry, repository, options);
      if (found) return found;
    }
    return undefined;
  };
}

/** An auth file's parts that are read. */
interface AuthFile {
  auths: Record<string, unknown>;
  credHelpers: Record<string, unknown>;
  credsStore?: string;
}

/** Reads and checks an auth file; undefined when it is absent (and need not be there). */
function readAuthFile(path: string, mustExist: boolean): AuthFile | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (err) {
    // A directory on the way that is a file is as good as absent; anything else is said.
    if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') {
      throw new RegistryAuthError(path, undefined, `cannot be read: ${(err as Error).message}`);
    }
    st = undefined;
  }
  if (!st) {
    if (mustExist) throw new RegistryAuthError(path, undefined, 'no such auth file');
    return undefined;
  }
  if (!st.isFile()) throw new RegistryAuthError(path, undefined, 'is not a file');
  if (st.size > MAX_FILE) {
    throw new RegistryAuthError(path, undefined, `is over ${MAX_FILE} bytes`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    // Not the parser's message: some quote the text, which may hold a password.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new RegistryAuthError(path, undefined, `is not JSON${at ? ` (at byte ${at})` : ''}`);
  }
  const bad = (why: string) => new RegistryAuthError(path, undefined, why);
  if (!isObject(json)) throw bad('is not a JSON object');
  const { auths = {}, credHelpers = {}, credsStore } = json;
  if (!isObject(auths)) throw bad('"auths" is not an object');
  if (!isObject(credHelpers)) throw bad('"credHelpers" is not an object');
  if (credsStore !== undefined && typeof credsStore !== 'string') {
    throw bad('"credsStore" is not a string');
  }
  return { auths, credHelpers, ...(credsStore ? { credsStore } : {}) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A key of `auths` or `credHelpers` as `host[:port][/path]`: no scheme, no docker `/v1/` or
 * `/v2/` path, Docker Hub's names as `docker.io`.
 */
export function normalizeAuthKey(key: string): string {
  // A key written with a scheme is docker's (`https://host/v1/`): its path is no namespace.
  const docker = /^https?:\/\//i.test(key);
  const k = key.replace(/^https?:\/\//i, '').replace(/\/+$/, '');
  const slash = k.indexOf('/');
  const host = (slash < 0 ? k : k.slice(0, slash)).toLowerCase();
  const rest = slash < 0 || docker ? '' : k.slice(slash);
  return (DOCKER_HUB_NAMES.has(host) ? 'docker.io' : host) + rest;
}

/** What is looked up for a repository: itself, its namespaces, then its registry. */
function lookupKeys(registry: string, repository: string): string[] {
  const host = normalizeAuthKey(registry);
  const keys: string[] = [];
  const parts = repository.split('/');
  for (let n = parts.length; n > 0; n--) keys.push(`${host}/${parts.slice(0, n).join('/')}`);
  keys.push(host);
  return keys;
}

/** The first entry of `map` whose normalized key is `key`, with the key as written. */
function entryFor(
  map: Record<string, unknown>,
  key: string,
): { written: string; value: unknown } | undefined {
  for (const [written, value] of Object.entries(map)) {
    if (normalizeAuthKey(written) === key) return { written, value };
  }
  return undefined;
}

async function credentialsIn(
  file: AuthFile,
  path: string,
  registry: string,
  repository: string,
  options: AuthFileOptions,
): Promise<RegistryCredentials | undefined> {
  const host = normalizeAuthKey(registry);
  const serverUrl = host === 'docker.io' ? DOCKER_HUB_KEY : registry;
  const helper = entryFor(file.credHelpers, host);
  if (helper) {
    if (typeof helper.value !== 'string') {
      throw new RegistryAuthError(
        path,
        undefined,
        `credHelpers[${JSON.stringify(helper.written)}] is not a string`,
      );
    }
    return runHelper(helper.value, serverUrl, options.helperTimeoutMs ?? 30_000);
  }
  // As docker: a credential store keeps what `auths` only names.
  if (file.credsStore) {
    const stored = await runHelper(file.credsStore, serverUrl, options.helperTimeoutMs ?? 30_000);
    if (stored) return stored;
  }
  for (const key of lookupKeys(registry, repository)) {
    const entry = entryFor(file.auths, key);
    if (!entry) continue;
    const found = decodeEntry(entry.value, `${path}: auths[${JSON.stringify(entry.written)}]`);
    if (found) return found;
  }
  return undefined;
}

/** An `auths` entry's credentials; undefined for an empty entry (docker's, with a store). */
function decodeEntry(value: unknown, where: string): RegistryCredentials | undefined {
  const bad = (why: string) => new RegistryAuthError(where, undefined, why);
  if (!isObject(value)) throw bad('is not an object');
  const { auth, username, password, identitytoken } = value;
  if (typeof identitytoken === 'string' && identitytoken !== '') {
    return { identityToken: identitytoken };
  }
  if (typeof auth === 'string' && auth !== '') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(auth) || auth.length % 4 !== 0) {
      throw bad('"auth" is not base64');
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(
        Uint8Array.from(atob(auth), (c) => c.charCodeAt(0)),
      );
    } catch {
      throw bad('"auth" is not base64 of UTF-8 text');
    }
    const colon = text.indexOf(':');
    if (colon < 0) throw bad('"auth" is not base64 of user:password');
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof username === 'string' && typeof password === 'string' && username !== '') {
    return { username, password };
  }
  return undefined;
}

/**
 * Asks `docker-credential-<name> get` for the credentials of `serverUrl` (the helper
 * protocol: the URL on stdin, `{"Username","Secret"}` on stdout; a username of `<token>`
 * means the secret is an identity token). A helper that has nothing for it (says "credentials
 * not found") gives undefined.
 */
function runHelper(
  name: string,
  serverUrl: string,
  timeoutMs: number,
): Promise<RegistryCredentials | undefined> {
  const program = `docker-credential-${name}`;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    return Promise.reject(
      new RegistryAuthError(
        program,
        undefined,
        'a credential helper name holds only letters, digits, ".", "_" and "-"',
      ),
    );
  }
  return new Promise((resolve, reject) => {
    const fail = (why: string, cause?: unknown) =>
      reject(new RegistryAuthError(program, undefined, why, cause ? { cause } : undefined));
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(`gave no answer in ${timeoutMs / 1000} s`);
    }, timeoutMs);
    const keep = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size > MAX_HELPER_OUTPUT) {
        child.kill('SIGKILL');
        clearTimeout(timer);
        fail(`answered more than ${MAX_HELPER_OUTPUT} bytes`);
      } else into.push(b);
    };
    child.stdout.on('data', keep(out));
    child.stderr.on('data', keep(err));
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(`could not be run: ${err.message}`, err);
    });
    child.stdin.on('error', () => {}); // A helper that exits without reading: its exit says why.
    child.stdin.end(`${serverUrl}\n`);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8');
      if (code !== 0) {
        const said = `${text}\n${Buffer.concat(err).toString('utf8')}`.trim();
        if (/credentials not found/i.test(said)) resolve(undefined);
        else {
          // What it wrote to stderr only: its stdout may hold the secret.
          const why = Buffer.concat(err).toString('utf8').trim().slice(0, 200);
          fail(`exited ${code ?? 'on a signal'}${why ? `: ${JSON.stringify(why)}` : ''}`);
        }
        return;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        fail('answered something other than JSON');
        return;
      }
      if (!isObject(json) || typeof json.Username !== 'string' || typeof json.Secret !== 'string') {
        fail('answered no "Username" and "Secret"');
        return;
      }
      resolve(
        json.Username === '<token>'
          ? { identityToken: json.Secret }
          : { username: json.Username, password: json.Secret },
      );
    });
  });
}
