export { Slots } from '../slots.js';
export { checkedBlob } from './checked-blob.js';
export { type RegistryLayoutOptions, registryLayout } from './client.js';
export {
  basicAuthorization,
  type CredentialSource,
  type RegistryCredentials,
} from './credentials.js';
export { FETCH_REFUSED } from './fetch-failure.js';
export { createRegistryHandler, type RegistryOptions } from './handler.js';
export { type ImageReference, parseImageReference, registryApiHost } from './names.js';
export { type OciPushReport, type PushImageOptions, pushImage } from './push.js';
export { type ByteRange, byteRange, parseRange } from './range.js';
export {
  openRepository,
  type RegistryRepository,
  type RegistryRepositoryOptions,
  type ServedBlob,
  type ServedManifest,
} from './repository.js';
export {
  type Answer,
  openSession,
  type RegistrySession,
  type RegistrySessionOptions,
} from './session.js';
