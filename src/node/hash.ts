/**
 * SHA-256 through node:crypto (OpenSSL, with SHA-NI where the CPU has it): the fastest
 * hashing in Node.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { HashProvider } from '../hash/types.js';

/**
 * A {@link HashProvider} backed by node:crypto.
 * @returns the provider.
 */
export function nodeHashProvider(): HashProvider {
  return {
    algorithm: 'sha256',
    name: 'node:crypto',
    async digest(bytes) {
      return createHash('sha256').update(bytes).digest();
    },
    async create() {
      const h = createHash('sha256');
      return {
        update(bytes) {
          h.update(bytes);
        },
        async digest() {
          return h.digest();
        },
      };
    },
  };
}
