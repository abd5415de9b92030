/**
 * Names in the OCI distribution API: repositories, tags, digests, and image references
 * (`host[:port]/repository[:tag][@digest]`).
 *
 * @module
 */
import { UsageError } from '../errors.js';
import { isDigest } from '../hash/digest.js';

/** A repository name as the distribution spec allows it. */
export const NAME_RE =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** A tag as the distribution spec allows it. */
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** An image in a registry. */
export interface ImageReference {
  /** `host[:port]`. */
  registry: string;
  /** The repository's name. */
  repository: string;
  /** The tag, when the reference names one. */
  tag?: string;
  /** The manifest's digest, when the reference names one. */
  digest?: string;
}

/** Docker Hub's names, whose API is served at `registry-1.docker.io`. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io']);

/**
 * The host the distribution API of `registry` is asked at: `registry-1.docker.io` for Docker
 * Hub's `docker.io` and `index.docker.io`, as docker and containers/image ask; `registry`
 * itself otherwise.
 */
export function registryApiHost(registry: string): string {
  return DOCKER_HUB.has(registry.toLowerCase()) ? 'registry-1.docker.io' : registry;
}

/**
 * Parses `host[:port]/repository[:tag][@digest]`. The registry is never implied (no default
 * to Docker Hub): the first part must be a host, with a `.` or a port, or `localhost`.
 * Without tag and digest the tag is `latest`. On Docker Hub (`docker.io`), a one-part
 * repository is an official image's: `docker.io/debian` is `library/debian`.
 * @param text - the reference.
 * @returns its parts.
 * @throws {@link UsageError} for anything else.
 */
export function parseImageReference(text: string): ImageReference {
  const bad = (why: string) => new UsageError(`image reference ${JSON.stringify(text)}: ${why}`);
  const slash = text.indexOf('/');
  if (slash <= 0) throw bad('name the registry: host[:port]/repository[:tag]');
  const registry = text.slice(0, slash);
  if (!/^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/.test(registry)) {
    throw bad(`${JSON.stringify(registry)} is not a host[:port]`);
  }
  if (!registry.includes('.') && !registry.includes(':') && registry !== 'localhost') {
    throw bad(`${JSON.stringify(registry)} is not a registry host (it needs a . or a port)`);
  }
  let rest = text.slice(slash + 1);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw bad(`${JSON.stringify(digest)} is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad(`${JSON.stringify(tag)} is not a tag`);
  }
  if (!NAME_RE.test(rest) || rest.length > 255) {
    throw bad(`${JSON.stringify(rest)} is not a repository name`);
  }
  if (tag === undefined && digest === undefined) tag = 'latest';
  if (DOCKER_HUB.has(registry.toLowerCase()) && !rest.includes('/')) rest = `library/${rest}`;
  return {
    registry,
    repository: rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest ? { digest } : {}),
  };
}
