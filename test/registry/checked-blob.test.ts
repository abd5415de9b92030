/**
 * `checkedBlob`: the bytes of a blob pass through as they are made; the piece with the last
 * byte only once the digest matches, so that a client of a body framed by its length never
 * gets every byte of a wrong blob (it would take it for complete).
 */
import { describe, expect, it } from 'vitest';
import { webHashProvider } from '../../src/hash/web.js';
import { checkedBlob } from '../../src/registry/checked-blob.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { readUntilError, sha256 } from '../helpers/streams.js';

const pieces = (bytes: Uint8Array, size: number) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (let at = 0; at < bytes.length; at += size) c.enqueue(bytes.slice(at, at + size));
      c.close();
    },
  });

describe('checkedBlob', () => {
  const blob = pseudoRandom(100_000, 1);
  const digest = sha256(blob);

  it('passes the blob on whole when it is what was promised', async () => {
    const { bytes, error } = await readUntilError(
      pieces(blob, 30_000).pipeThrough(checkedBlob(digest, blob.length, webHashProvider())),
    );
    expect(error).toBeUndefined();
    expect(Buffer.from(bytes).equals(blob)).toBe(true);
  });

  it('never passes on every byte of a blob that is not', async () => {
    const wrong = blob.slice();
    wrong[50_000] = wrong[50_000]! ^ 1;
    for (const size of [1_000, 30_000, 100_000]) {
      const { bytes, error } = await readUntilError(
        pieces(wrong, size).pipeThrough(checkedBlob(digest, blob.length, webHashProvider())),
      );
      expect(error, `pieces of ${size}`).toMatchObject({ code: 'ERR_OCI_DIGEST' });
      expect(bytes.length, `pieces of ${size}`).toBeLessThan(blob.length);
    }
  });
});
