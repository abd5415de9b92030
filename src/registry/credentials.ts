/**
 * Credentials for registries that ask for them: a username and password (sent as HTTP Basic
 * to a registry that asks for Basic, or to the token service of one that asks for Bearer
 * tokens), or an identity token (an OAuth2 refresh token, what `docker login` keeps as
 * `identitytoken` for registries that give one out).
 *
 * Where they come from is up to the caller: a value, or a {@link CredentialSource} asked only
 * when a registry first asks for credentials. Node's `authFileCredentials` reads them as
 * podman, skopeo and docker keep them.
 *
 * @module
 */

/** Credentials for one registry. */
export type RegistryCredentials =
  | { username: string; password: string }
  | {
      /** An OAuth2 refresh token, exchanged at the token service for access tokens. */
      identityToken: string;
    };

/**
 * Gives the credentials for a registry, or undefined to go on anonymously. Asked at most once
 * per {@link registryLayout}, and only when the registry asks for credentials.
 * @param registry - `host[:port]` as the image reference names it (`docker.io` for Docker
 * Hub).
 * @param repository - the repository pulled.
 */
export type CredentialSource = (
  registry: string,
  repository: string,
) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;

/**
 * The `Authorization` header value of HTTP Basic for a username and password (RFC 7617:
 * UTF-8, base64).
 * @returns the value, or undefined when they cannot go in a header: a username holding `:`,
 * or either holding a control character.
 */
export function basicAuthorization(username: string, password: string): string | undefined {
  if (username.includes(':') || /[\x00-\x1f\x7f]/.test(username + password)) return undefined;
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}
