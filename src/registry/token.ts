/**
 * Bearer tokens (the Docker token scheme, which public registries use even for anonymous
 * pulls): a registry answers 401 with `WWW-Authenticate: Bearer realm=..., service=...,
 * scope=...`; the client asks the realm for a token for that service and scope, anonymously
 * or with credentials, and sends it as `Authorization: Bearer <token>`.
 *
 * @module
 */

import { basicAuthorization, type RegistryCredentials } from './credentials.js';

/** The OAuth2 `client_id` layerdiff names itself by. */
const CLIENT_ID = 'layerdiff';

/** What a bearer challenge asks for. */
export interface BearerChallenge {
  /** Where tokens are given out: an http(s) URL. */
  realm: string;
  service?: string;
  scope?: string;
}

/** Longest challenge header looked at. */
const MAX_CHALLENGE = 4096;

/**
 * Parses a `WWW-Authenticate` header for a bearer challenge.
 * @param header - the header's value, or null.
 * @returns the challenge, or undefined for none, another scheme, a malformed one, or a realm
 * that is not an http(s) URL.
 */
export function parseBearerChallenge(header: string | null): BearerChallenge | undefined {
  if (header === null || header.length > MAX_CHALLENGE) return undefined;
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/gy;
  const text = m[1]!;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const p = re.exec(text);
    if (!p || p[0].length === 0) return undefined;
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
    at = re.lastIndex;
  }
  const realm = params.realm;
  if (!realm) return undefined;
  try {
    const url = new URL(realm);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  } catch {
    return undefined;
  }
  return {
    realm,
    ...(params.service !== undefined ? { service: params.service } : {}),
    ...(params.scope !== undefined ? { scope: params.scope } : {}),
  };
}

/** Whether a `WWW-Authenticate` header asks for HTTP Basic credentials. */
export function isBasicChallenge(header: string | null): boolean {
  return header !== null && /^\s*Basic(?:\s|$)/i.test(header);
}

/** A request for a token: where, and how. */
export interface TokenRequest {
  url: string;
  init: RequestInit;
}

/**
 * How to ask `challenge.realm` for a token, as Docker's clients ask:
 * - anonymously, `GET` with the service and a `scope` parameter for each resource;
 * - with a username and password, the same `GET` with them as HTTP Basic (and `account`);
 * - with an identity token, an OAuth2 `POST` of `grant_type=refresh_token`, its scopes
 *   separated by spaces.
 * @param challenge - the challenge.
 * @param scopes - the scopes the client needs (`repository:<name>:<actions>`), asked for with
 * those the challenge names; the actions asked of one resource are merged.
 * @param credentials - what to ask with, if anything.
 * @returns the request, or undefined when the username or password cannot go in a header.
 */
export function tokenRequest(
  challenge: BearerChallenge,
  scopes: readonly string[],
  credentials?: RegistryCredentials,
): TokenRequest | undefined {
  const url = new URL(challenge.realm);
  const asked = mergeScopes([...(challenge.scope?.split(/\s+/) ?? []), ...scopes]);
  const scope = asked.join(' ');
  if (credentials && 'identityToken' in credentials) {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: credentials.identityToken,
      client_id: CLIENT_ID,
      scope,
      ...(challenge.service !== undefined ? { service: challenge.service } : {}),
    });
    return {
      url: url.toString(),
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
      },
    };
  }
  if (challenge.service !== undefined) url.searchParams.set('service', challenge.service);
  for (const s of asked) url.searchParams.append('scope', s);
  if (!credentials) return { url: url.toString(), init: {} };
  const authorization = basicAuthorization(credentials.username, credentials.password);
  if (authorization === undefined) return undefined;
  url.searchParams.set('account', credentials.username);
  return { url: url.toString(), init: { headers: { authorization } } };
}

/**
 * The token of a token endpoint's JSON answer (`token`, or OAuth's `access_token`).
 * @param json - the parsed answer.
 * @returns the token, or undefined when it holds none that can go in a header.
 */
export function tokenOf(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const o = json as { token?: unknown; access_token?: unknown };
  const t = typeof o.token === 'string' && o.token !== '' ? o.token : o.access_token;
  if (typeof t !== 'string' || t === '' || t.length > 65536) return undefined;
  // It goes into a header: visible ASCII only.
  return /^[\x21-\x7e]+$/.test(t) ? t : undefined;
}

/** A token's lifetime when its answer names none, as the token scheme says. */
export const DEFAULT_TOKEN_LIFETIME_MS = 60_000;

/**
 * How long a token of a token endpoint's JSON answer lives (`expires_in`, seconds), in ms.
 * @param json - the parsed answer.
 * @returns the lifetime; {@link DEFAULT_TOKEN_LIFETIME_MS} when it names none that can be read
 * (absent, not a positive number, or over a year).
 */
export function tokenLifetime(json: unknown): number {
  const s = (json as { expires_in?: unknown } | null)?.expires_in;
  return typeof s === 'number' && s > 0 && s <= 366 * 86_400 ? s * 1000 : DEFAULT_TOKEN_LIFETIME_MS;
}

/**
 * Scopes with the actions asked of one resource merged, in the order first named:
 * `repository:a:pull` and `repository:a:push` become `repository:a:pull,push`.
 * @param scopes - scopes (`<type>:<name>:<actions>`); empty ones are dropped.
 */
export function mergeScopes(scopes: readonly string[]): string[] {
  const merged = new Map<string, Set<string>>();
  for (const s of scopes) {
    if (s === '') continue;
    const colon = s.lastIndexOf(':');
    const resource = colon > 0 ? s.slice(0, colon) : s;
    const actions = merged.get(resource) ?? new Set<string>();
    if (colon > 0) for (const a of s.slice(colon + 1).split(',')) if (a) actions.add(a);
    merged.set(resource, actions);
  }
  return [...merged].map(([r, a]) => (a.size ? `${r}:${[...a].join(',')}` : r));
}
