/**
 * A session with one repository of a registry: requests whose failures are typed and which
 * are given up when they stall, and the authentication they need (docs/OCI.md
 * "Credentials"). Pulls (`registryLayout`) and pushes (`pushImage`) are made of it.
 *
 * A registry that asks for a bearer token (as public registries do even for anonymous pulls)
 * gets one from the token service it names, asked anonymously or with the credentials given;
 * one that asks for HTTP Basic gets the username and password. Tokens are renewed when a
 * registry stops taking one. A refusal is {@link RegistryAuthError}. Credentials go to an
 * HTTPS registry's token service only over HTTPS; a redirect to another origin (a blob store,
 * a CDN) gets no `Authorization`, as fetch drops it there, and a 401 from there is not
 * answered: only the registry's own challenges choose where credentials go.
 *
 * @module
 */
import { readBytes, readLeading, streamOfBytes } from '../bytes-stream.js';
import { RegistryAuthError, RegistryError } from '../errors.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
} from '../oci/media-types.js';
import {
  basicAuthorization,
  type CredentialSource,
  type RegistryCredentials,
} from './credentials.js';
import { fetchFailureText, hostNotFound, refusedByFetch } from './fetch-failure.js';
import { type ImageReference, registryApiHost } from './names.js';
import {
  type BearerChallenge,
  isBasicChallenge,
  parseBearerChallenge,
  tokenLifetime,
  tokenOf,
  tokenRequest,
} from './token.js';

/** How a session reaches a registry. */
export interface RegistrySessionOptions {
  /** Plain HTTP instead of HTTPS (a registry on 127.0.0.1, say). @default false */
  plainHttp?: boolean;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * Credentials for a registry that asks for them, or where to get them (asked only then).
   * Without them, requests are anonymous: a registry that asks for Bearer tokens gets an
   * anonymous one from its token service; one that asks for Basic credentials is refused
   * (`ERR_REGISTRY_AUTH`).
   */
  credentials?: RegistryCredentials | CredentialSource;
  /**
   * A request that waits this long for its answer, or whose body (either way) moves less than
   * 256 bytes a second over this long before it ends, is given up (`ERR_REGISTRY`): a body
   * that trickles a byte at a time does not hold a pull forever. @default 60000
   */
  idleTimeoutMs?: number;
  /**
   * How often a `GET` or `HEAD` is asked again after no answer, a stall, 408, 429 or a 5xx (after
   * the `Retry-After` it names, up to 60 s, or else the doubling pause; a request the fetch
   * refused for good, such as a redirect it may not follow, or to a host name the resolver
   * says does not exist, is not asked again); and how
   * often a blob whose body breaks off is resumed in a row without getting a byte further
   * (with `Range`). @default 3
   */
  retries?: number;
  /** The pause before the first retry; each next one doubles it. @default 500 */
  retryDelayMs?: number;
}

/** What a session's requests give back: the answer, its body watched. */
export interface Answer {
  status: number;
  /** The URL that answered: the one asked, or where redirects led. */
  url: string;
  headers: Headers;
  /** The body, given up when it stalls; null for HEAD and empty answers. */
  body: ReadableStream<Uint8Array> | null;
  /** Ends the request (and its connection, if the answer is not complete). */
  close(): void;
}

/** A session with one repository. */
export interface RegistrySession {
  ref: ImageReference;
  /** `http(s)://<host>/v2/<repository>`. */
  base: string;
  /**
   * A request without authentication, its failure typed (`ERR_REGISTRY`); a 2xx, a 404 and a
   * 401 are given back. A `GET` or `HEAD` is asked again (`retries`) after
   * no answer, a stall, 408, 429 or a 5xx.
   */
  request(url: string, init?: RequestInit): Promise<Answer>;
  /**
   * A request with the session's authentication, got when the registry first asks for it.
   * @param once - the body cannot be sent twice: a 401 renews the authentication for the next
   * request and is given back, where otherwise the request is sent again.
   */
  authed(url: string, init?: RequestInit, once?: boolean): Promise<Answer>;
  /** {@link RegistrySessionOptions.retries} and `retryDelayMs`, as the session took them. */
  retries: number;
  retryDelayMs: number;
}

/** The manifest media types asked for, most wanted first. */
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST].join(', ');
/** Bytes a second a request's body must move, over the idle timeout, to count as moving. */
const MIN_BYTES_PER_S = 256;

/**
 * Opens a session with a repository.
 * @param ref - the repository (and registry) by reference.
 * @param actions - what the session's tokens are asked for: `pull`, or `pull,push`.
 * @param options - scheme, fetch, credentials and idle timeout.
 * @param pullFrom - other repositories of the registry its tokens are asked to pull from too
 * (the sources of blob mounts).
 */
export function openSession(
  ref: ImageReference,
  actions: 'pull' | 'pull,push',
  options: RegistrySessionOptions = {},
  pullFrom: readonly string[] = [],
): RegistrySession {
  const doFetch = options.fetch ?? globalThis.fetch;
  /** The scopes tokens are asked for, beside those a challenge names. */
  const scopes = [
    `repository:${ref.repository}:${actions}`,
    ...pullFrom.map((r) => `repository:${r}:pull`),
  ];
  const base = `${options.plainHttp ? 'http' : 'https'}://${registryApiHost(ref.registry)}/v2/${ref.repository}`;
  const registryOrigin = new URL(base).origin;
  const idle = options.idleTimeoutMs ?? 60_000;
  /** Bytes that must move within the idle timeout. */
  const minMoved = Math.max(1, Math.ceil((idle / 1000) * MIN_BYTES_PER_S));
  /**
   * A request, its failure typed; a 404 is given back for the caller to name, and a 401 for
   * {@link authed} to answer. It is given up
   * when the answer, or the next bytes of its body, take longer than the idle timeout.
   */
  const requestOnce = async (url: string, init: RequestInit = {}): Promise<Answer> => {
    // The caller's signal (work given up: another layer failed) ends the request, answer and
    // body included, with its reason.
    const given = init.signal ?? undefined;
    given?.throwIfAborted();
    const ac = new AbortController();
    const onGiven = () => ac.abort(given?.reason);
    given?.addEventListener('abort', onGiven, { once: true });
    const stalled = () =>
      new RegistryError(
        url,
        undefined,
        `less than ${minMoved} bytes moved in ${idle / 1000} s; given up`,
      );
    let timer = setTimeout(() => ac.abort(stalled()), idle);
    /** Bytes moved since the timer last started. */
    let moved = 0;
    const restart = () => {
      moved = 0;
      clearTimeout(timer);
      timer = setTimeout(() => ac.abort(stalled()), idle);
    };
    /** `n` bytes moved: the timer starts again once they add up to enough. */
    const touch = (n: number) => {
      moved += n;
      if (moved >= minMoved) restart();
    };
    /** The request is over: no timer, no listener on the caller's signal. */
    const over = () => {
      clearTimeout(timer);
      given?.removeEventListener('abort', onGiven);
    };
    const close = () => {
      over();
      ac.abort(new Error('closed'));
    };
    /** Why the request ended, when it was the stall timer or the caller's signal. */
    const ended = () =>
      given?.aborted || ac.signal.reason instanceof RegistryError ? ac.signal.reason : undefined;
    // A body being sent is progress too: the bytes it gives count, so a long upload is not
    // given up while it moves.
    const sent = init.body instanceof ReadableStream ? touching(init.body, touch) : init.body;
    let res: Response;
    try {
      res = await doFetch(url, {
        ...init,
        ...(sent !== undefined ? { body: sent } : {}),
        signal: ac.signal,
        headers: { accept: ACCEPT, ...init.headers },
      });
    } catch (err) {
      over();
      if (ended() !== undefined) throw ended();
      // Whatever the fetch left open (a connection of an answer it refused) is ended.
      ac.abort(err);
      const how = refusedByFetch(err)
        ? 'refused by the fetch'
        : hostNotFound(err)
          ? 'no such host'
          : 'no answer';
      throw new RegistryError(url, undefined, `${how}: ${fetchFailureText(err)}`, {
        cause: err,
      });
    }
    restart();
    const reader = res.body?.getReader();
    const body =
      reader &&
      new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            try {
              const r = await reader.read();
              if (r.done) {
                over();
                controller.close();
              } else {
                touch(r.value.length);
                controller.enqueue(r.value);
              }
            } catch (err) {
              over();
              throw ended() ?? err;
            }
          },
          cancel(reason) {
            close();
            return reader.cancel(reason).catch(() => {});
          },
        },
        { highWaterMark: 0 },
      );
    const answer: Answer = {
      status: res.status,
      url: res.url || url,
      headers: res.headers,
      body: body ?? null,
      close,
    };
    if (!reader) over();
    if (res.ok || res.status === 404 || res.status === 401) return answer;
    // The start of what it says, if anything (a HEAD or a 204 says nothing).
    const text = body
      ? await readLeading(body.getReader(), 2048).then(
          ({ head }) => new TextDecoder().decode(head),
          () => '',
        )
      : '';
    close();
    const err = new RegistryError(
      url,
      res.status,
      `answered ${res.status}${text ? `: ${JSON.stringify(text.slice(0, 300))}` : ''}`,
    );
    const wait = retryAfter(res.headers.get('retry-after'));
    if (wait !== undefined) err.retryAfterMs = wait;
    throw err;
  };
  const retries = options.retries ?? 3;
  const retryDelay = options.retryDelayMs ?? 500;
  /**
   * {@link requestOnce}, with a `GET` or `HEAD` asked again after a failure that may pass: no
   * answer, a stall, 408, 429 or a 5xx.
   */
  const request = async (url: string, init: RequestInit = {}): Promise<Answer> => {
    const method = (init.method ?? 'GET').toUpperCase();
    for (let attempt = 0; ; attempt++) {
      try {
        return await requestOnce(url, init);
      } catch (err) {
        const again = (method === 'GET' || method === 'HEAD') && attempt < retries && mayPass(err);
        if (!again || (err.retryAfterMs ?? 0) > MAX_RETRY_AFTER) throw err;
        await pause(err.retryAfterMs ?? retryDelay * 2 ** attempt, init.signal ?? undefined);
      }
    }
  };
  const source = options.credentials;
  let credentialsAsked: Promise<RegistryCredentials | undefined> | undefined;
  /** The credentials, asked of the source once, when first needed. */
  const credentials = () =>
    (credentialsAsked ??= Promise.resolve(
      typeof source === 'function' ? source(ref.registry, ref.repository) : source,
    ));
  /** The `Authorization` value requests carry: a token, or Basic credentials. */
  let authorization: string | undefined;
  /** When the token `authorization` holds is renewed ahead of its expiry, and how. */
  let ahead: Granted['ahead'];
  /** The renewal under way, which requests meanwhile wait for. */
  let renewing: Promise<string> | undefined;

  /**
   * Asks the token service of `challenge` for a token, with the credentials if any. It is
   * renewed ahead of its expiry (`expires_in`, 60 s when not named, counted from when it was
   * asked): a quarter of its lifetime before, at most 10 s.
   */
  const bearerToken = async (challenge: BearerChallenge): Promise<Granted> => {
    const askedAt = Date.now();
    const c = await credentials();
    if (c && !options.plainHttp && new URL(challenge.realm).protocol !== 'https:') {
      throw new RegistryAuthError(
        challenge.realm,
        undefined,
        'the registry is HTTPS but names a plain HTTP token service; credentials are not sent there',
      );
    }
    const asked = tokenRequest(challenge, scopes, c);
    if (!asked) {
      throw new RegistryAuthError(challenge.realm, undefined, UNSENDABLE);
    }
    let answer: Answer;
    try {
      // Credentials go where the challenge said, not where a redirect would take them.
      answer = await request(asked.url, c ? { ...asked.init, redirect: noRedirect() } : asked.init);
    } catch (err) {
      if (err instanceof RegistryError && err.status === 403) {
        throw new RegistryAuthError(err.url, 403, err.detail);
      }
      throw err;
    }
    if (answer.status !== 200) {
      answer.close();
      throw answer.status === 401
        ? new RegistryAuthError(
            asked.url,
            401,
            c
              ? 'refused the credentials'
              : 'gives no anonymous token: credentials are needed (see docs/OCI.md "Credentials")',
          )
        : new RegistryError(asked.url, answer.status, 'gave no token');
    }
    const bytes = await readBytes(answer.body ?? streamOfBytes(new Uint8Array(0)), 65536, () => {
      return new RegistryError(asked.url, 200, 'token answer over 64 KiB');
    });
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      json = undefined;
    }
    const token = tokenOf(json);
    if (token === undefined) throw new RegistryError(asked.url, 200, 'answered no usable token');
    const lifetime = tokenLifetime(json);
    const at = askedAt + lifetime - Math.min(10_000, lifetime / 4);
    return { value: `Bearer ${token}`, ahead: { at, challenge } };
  };
  /** What to answer the challenge of a 401 to `url` with. */
  const answerChallenge = async (url: string, header: string | null): Promise<Granted> => {
    const challenge = parseBearerChallenge(header);
    if (challenge) return bearerToken(challenge);
    if (!isBasicChallenge(header)) {
      throw new RegistryAuthError(
        url,
        401,
        `asks for an authentication scheme not built: ${JSON.stringify((header ?? '').slice(0, 80))}`,
      );
    }
    const c = await credentials();
    if (!c || !('password' in c)) {
      throw new RegistryAuthError(
        url,
        401,
        c
          ? 'asks for a username and password (HTTP Basic), and an identity token was given'
          : 'asks for a username and password (HTTP Basic): none given (see docs/OCI.md "Credentials")',
      );
    }
    const basic = basicAuthorization(c.username, c.password);
    if (basic === undefined) {
      throw new RegistryAuthError(url, 401, UNSENDABLE);
    }
    return { value: basic };
  };
  /** Takes what `get` grants as the session's authentication; requests wait for it. */
  const renewWith = (get: () => Promise<Granted>) => {
    renewing = get().then(
      (granted) => {
        authorization = granted.value;
        ahead = granted.ahead;
        renewing = undefined;
        return granted.value;
      },
      (err) => {
        renewing = undefined;
        throw err;
      },
    );
    return renewing;
  };
  /**
   * A new `Authorization` after `refused` was refused. Requests refused together share one
   * renewal, and a request refused with what a renewal has since replaced takes the new one.
   */
  const renew = (url: string, refused: string | undefined, header: string | null) => {
    if (renewing) return renewing;
    if (authorization !== refused && authorization !== undefined) {
      return Promise.resolve(authorization);
    }
    return renewWith(() => answerChallenge(url, header));
  };
  /**
   * The `Authorization` to send now: the renewal under way, if any; a token near its expiry
   * renewed first.
   */
  const current = async (): Promise<string | undefined> => {
    if (renewing) return renewing;
    if (ahead !== undefined && Date.now() >= ahead.at) {
      const { challenge } = ahead;
      return renewWith(async () => bearerToken(challenge));
    }
    return authorization;
  };
  /**
   * A request with the `Authorization` got so far, if any. A 401 gets a new one (a token
   * from the realm a Bearer challenge names, or the credentials for Basic) and the request is
   * sent again, once: so tokens that expire during a long pull are renewed. With `once` (a
   * request whose body cannot be sent twice), a 401 is renewed for the next request and given
   * back.
   */
  const authed = async (url: string, init: RequestInit = {}, once = false): Promise<Answer> => {
    const send = (value: string | undefined) =>
      request(
        url,
        value === undefined
          ? init
          : { ...init, headers: { ...init.headers, authorization: value } },
      );
    const sent = await current();
    let res = await send(sent);
    if (res.status !== 401) return res;
    const header = res.headers.get('www-authenticate');
    res.close();
    // Only the registry's own challenge is answered: a blob store or CDN a redirect led to
    // must not choose where the credentials go.
    const from = new URL(res.url).origin;
    if (from !== registryOrigin) {
      throw new RegistryAuthError(
        url,
        401,
        `refused at ${from}, where the registry redirected the request; credentials are not sent there`,
      );
    }
    const renewed = await renew(url, sent, header);
    if (once) return res;
    res = await send(renewed);
    if (res.status === 401) {
      res.close();
      const basic = renewed.startsWith('Basic ');
      throw new RegistryAuthError(
        url,
        401,
        basic
          ? 'refused the credentials'
          : `refused the token its token service gave (${(await credentials()) ? `the account may not ${actions}` : `anonymous ${actions} may not be allowed`} ${ref.repository})`,
      );
    }
    return res;
  };
  return { ref, base, request, authed, retries, retryDelayMs: retryDelay };
}

/** What answers a challenge: the `Authorization` value, and for a token, when to renew it. */
interface Granted {
  value: string;
  ahead?: { at: number; challenge: BearerChallenge };
}

let redirectMode: RequestRedirect | undefined;

/**
 * The `redirect` of a request that must not follow one (an upload's body; a token request
 * that carries credentials, whose body a 307 would send on): `error` where fetch has it, since
 * Node's fetch also keeps a whole stream body to send it again when it may follow or hand back
 * a redirect (`follow`, `manual`: 200 MiB sent kept 277 MiB resident, against 94 with `error`,
 * measured); `manual` in workerd, which refuses `error` (a redirect is then an answer that is
 * refused).
 */
export function noRedirect(): RequestRedirect {
  if (redirectMode === undefined) {
    try {
      new Request('http://localhost/', { redirect: 'error' });
      redirectMode = 'error';
    } catch {
      redirectMode = 'manual';
    }
  }
  return redirectMode;
}

/** Why credentials cannot go in a header (`basicAuthorization` refused them). */
const UNSENDABLE =
  'the username (it may not hold ":") or password holds a character a header cannot carry';

/** The longest `Retry-After` waited for; a registry that asks for longer is given up. */
export const MAX_RETRY_AFTER = 60_000;

/**
 * Whether a request's failure may pass if it is asked again: no answer, a stall, 408, 429 or
 * a 5xx. A refusal of credentials never does, nor a request the fetch refused for good (a
 * redirect it may not follow, too many redirects: see `refusedByFetch`), nor one to a host
 * name the resolver says does not exist (`hostNotFound`).
 */
export function mayPass(err: unknown): err is RegistryError {
  if (!(err instanceof RegistryError) || err instanceof RegistryAuthError) return false;
  const s = err.status;
  if (s === undefined) return !refusedByFetch(err.cause) && !hostNotFound(err.cause);
  return s === 408 || s === 429 || (s >= 500 && s <= 599);
}

/**
 * A `Retry-After` value (seconds, or an HTTP date) in milliseconds from now.
 * @returns the wait, or undefined for none or one that cannot be read.
 */
export function retryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** `body`, calling `onPiece` as each piece is pulled from it. */
function touching(
  body: ReadableStream<Uint8Array>,
  onPiece: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await reader.read();
        onPiece(r.done ? 0 : r.value.length);
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/** Waits `ms` milliseconds; fails with the signal's reason when it is aborted first. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    signal?.addEventListener('abort', stop, { once: true });
  });
}
