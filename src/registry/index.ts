export { checkedBlob } from './checked-blob.js';
export { type RegistryLayoutOptions, registryLayout } from './client.js';
export { createRegistryHandler, type RegistryOptions } from './handler.js';
export { type ImageReference, parseImageReference } from './names.js';
export { type ByteRange, byteRange, parseRange } from './range.js';
export {
  openRepository,
  type RegistryRepository,
  type RegistryRepositoryOptions,
  type ServedBlob,
  type ServedManifest,
} from './repository.js';
export { Slots } from './slots.js';
