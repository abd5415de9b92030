/**
 * `UploadBody`: a blob cut into request bodies, checked as it is read, and resumed from an
 * offset (the bytes before it hashed, not handed out).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeHashProvider } from '../../src/node/hash.js';
import { UnexpectedBlob, UploadBody } from '../../src/registry/upload-body.js';

const digestOf = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** `bytes` as a stream of pieces cut at `cuts`. */
const pieces = (bytes: Uint8Array, cuts: number[]) => {
  const at = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort(
    (a, b) => a - b,
  );
  return new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 1; i < at.length; i++) c.enqueue(bytes.slice(at[i - 1], at[i]));
      c.close();
    },
  });
};

/** Reads a whole stream. */
const readAll = async (s: ReadableStream<Uint8Array>) =>
  new Uint8Array(await new Response(s).arrayBuffer());

/** Every body of an upload from `from`, in parts of `part` bytes and a last one. */
async function bodies(body: UploadBody, size: number, from: number, part: number) {
  const out: Uint8Array[] = [];
  let at = from;
  while (size - at > part) {
    out.push(await readAll(body.part(part, false)));
    at += part;
  }
  out.push(await readAll(body.part(size - at, true)));
  return out;
}

describe('UploadBody', () => {
  it('hands out the blob from any offset, in parts, however it is cut', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        fc.integer({ min: 1, max: 1000 }),
        async (blob, cuts, offset, part) => {
          const from = offset % blob.length;
          const hash = await nodeHashProvider().create();
          const body = new UploadBody(pieces(blob, cuts), hash, digestOf(blob), blob.length, from);
          const got = await bodies(body, blob.length, from, part);
          expect(Buffer.concat(got)).toEqual(Buffer.from(blob.subarray(from)));
          expect(got.slice(0, -1).every((b) => b.length === part)).toBe(true);
          expect(body.sent).toBe(blob.length - from);
          expect(body.failure).toBeUndefined();
        },
      ),
      { numRuns: 60 },
    );
  });

  it('fails the last body of a blob that is not the one expected, whatever the offset', async () => {
    const blob = new Uint8Array(5000).map((_, i) => i * 7);
    const wrong = blob.slice();
    wrong[10] = (wrong[10] ?? 0) ^ 1;
    for (const from of [0, 100, 4999]) {
      const hash = await nodeHashProvider().create();
      const body = new UploadBody(pieces(wrong, [50, 2000]), hash, digestOf(blob), 5000, from);
      const failed = await bodies(body, 5000, from, 1000).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failed, String(from)).toBeInstanceOf(UnexpectedBlob);
      expect(failed).toMatchObject({ digest: digestOf(wrong), size: 5000 });
      // The last piece of the blob was held back.
      expect(body.sent, String(from)).toBeLessThan(5000 - from);
    }
  });
});
