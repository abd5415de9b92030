/**
 * What a `fetch` that threw means for the registry client: a network failure that may pass
 * when the request is asked again (a connection refused or reset, a time-out, a name the
 * resolver could not look up just then, `EAI_AGAIN`), a host name the resolver says does not
 * exist (`ENOTFOUND`, which asking again within one command does not change), or a refusal
 * that will come again whatever the network does (a redirect the request may not follow,
 * more than 20 redirects, a URL scheme or port the fetch does not take, an answer that is
 * not HTTP, a certificate that does not check). The fetch standard gives all of them as a
 * bare `TypeError`; what tells them apart is the error's `cause` chain: Node's fetch (undici)
 * puts the reason there, as an error with a system `code` for the network or a message of
 * its own for a refusal, `nodeHttpFetch` throws Node's network errors as they are, and marks
 * its refusals with the code {@link FETCH_REFUSED}. A failure neither says anything about
 * (another platform's fetch, "Failed to fetch") is taken as one that may pass, so that it is
 * asked again as before.
 *
 * @module
 */

/** The `code` of the errors `nodeHttpFetch` throws for requests it refuses. */
export const FETCH_REFUSED = 'ERR_FETCH_REFUSED';

/** Codes of refusals: Node's checks of a request, and of the server's certificate. */
const REFUSED_CODES = new Set([
  FETCH_REFUSED,
  'ERR_INVALID_URL',
  'ERR_INVALID_PROTOCOL',
  'ERR_INVALID_HTTP_TOKEN',
  'ERR_INVALID_CHAR',
  'ERR_UNESCAPED_CHARACTERS',
  'ERR_INVALID_ARG_TYPE',
  'ERR_INVALID_ARG_VALUE',
  // TLS spoken to a port that does not (the `https` of a plain HTTP registry).
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** The reasons Node's fetch (undici) gives, with no code, for a request it refuses. */
const REFUSED_MESSAGES = new Set([
  'unexpected redirect', // `redirect: 'error'`
  'redirect count exceeded', // more than 20
  'URL scheme must be a HTTP(S) scheme', // a redirect to one
  'unknown scheme', // a URL asked
  'bad port', // a port fetch blocks (1, 25, 6000...)
]);

/** The errors of a `cause` chain, the error first (at most 8: a chain may loop). */
function* chain(err: unknown): Generator<{ code?: unknown; message?: unknown }> {
  let e = err;
  for (let i = 0; i < 8 && typeof e === 'object' && e !== null; i++) {
    yield e as { code?: unknown; message?: unknown };
    e = (e as { cause?: unknown }).cause;
  }
}

/**
 * Whether a failed fetch was refused for good, so that asking again is no use.
 * @param err - what the fetch threw.
 */
export function refusedByFetch(err: unknown): boolean {
  for (const e of chain(err)) {
    const code = e.code;
    if (typeof code === 'string' && (REFUSED_CODES.has(code) || code.startsWith('HPE_'))) {
      return true;
    }
    if (typeof e.message === 'string' && REFUSED_MESSAGES.has(e.message)) return true;
  }
  return false;
}

/**
 * Whether a failed fetch found no such host: the resolver answered that the name does not
 * exist (Node's `ENOTFOUND`, for both `fetch` and `node:http`), which asking again a few
 * seconds later does not change. A resolver that could not answer just then (`EAI_AGAIN`) is
 * not this.
 * @param err - what the fetch threw.
 */
export function hostNotFound(err: unknown): boolean {
  for (const e of chain(err)) if (e.code === 'ENOTFOUND') return true;
  return false;
}

/**
 * What a failed fetch says, with the reasons of its cause chain: Node's fetch says only
 * "fetch failed", its cause why ("fetch failed: connect ECONNREFUSED 127.0.0.1:5000").
 * @param err - what the fetch threw.
 */
export function fetchFailureText(err: unknown): string {
  const said: string[] = [];
  for (const e of chain(err)) {
    const m = typeof e.message === 'string' && e.message !== '' ? e.message : undefined;
    if (m !== undefined && !said.includes(m)) said.push(m);
  }
  return said.length > 0 ? said.join(': ') : String(err);
}
