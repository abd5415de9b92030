import { describe, expect, it } from 'vitest';
import { detectCompression, SNIFF_BYTES } from '../../src/compress/detect.js';
import type { Compression } from '../../src/format/records.js';
import { encodeHeader } from '../../src/tar/header.js';

/** A tar header block whose name starts with `first`, its checksum made right again. */
function headerStartingWith(first: number[]): Uint8Array {
  const block = encodeHeader({ path: 'xxxx-notes', size: 0, mode: 0o644, mtime: 1_700_000_000 });
  block.set(first, 0);
  block.fill(0x20, 148, 156);
  const sum = block.subarray(0, 512).reduce((s, b) => s + b, 0);
  block.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
  return block;
}

describe('detectCompression', () => {
  const cases: Array<[string, number[], Compression]> = [
    ['empty', [], 'none'],
    ['one gzip byte', [0x1f], 'none'],
    ['gzip magic alone', [0x1f, 0x8b], 'gzip'],
    ['gzip header start', [0x1f, 0x8b, 0x08, 0x00], 'gzip'],
    ['gzip magic reversed', [0x8b, 0x1f, 0x08, 0x00], 'none'],
    ['zstd magic', [0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    ['zstd magic then more', [0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58], 'zstd'],
    ['three zstd bytes', [0x28, 0xb5, 0x2f], 'none'],
    ['zstd magic, last byte wrong', [0x28, 0xb5, 0x2f, 0xfe], 'none'],
    ['zstd skippable frame first (pzstd)', [0x50, 0x2a, 0x4d, 0x18], 'zstd'],
    ['last skippable magic', [0x5f, 0x2a, 0x4d, 0x18], 'zstd'],
    ['below skippable magics', [0x4f, 0x2a, 0x4d, 0x18], 'none'],
    ['three skippable bytes', [0x50, 0x2a, 0x4d], 'none'],
    ['tar (ustar name)', [0x2e, 0x2f, 0x00, 0x00], 'none'],
    ['zeros', [0, 0, 0, 0], 'none'],
    ['bzip2', [0x42, 0x5a, 0x68, 0x39], 'none'],
    ['xz', [0xfd, 0x37, 0x7a, 0x58], 'none'],
  ];
  it.each(cases)('%s → %s', (_name, bytes, expected) => {
    expect(detectCompression(Uint8Array.from(bytes))).toBe(expected);
  });

  it('needs no more than SNIFF_BYTES', () => {
    expect(SNIFF_BYTES).toBe(512);
    const zstd = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff);
    expect(detectCompression(zstd.subarray(0, SNIFF_BYTES))).toBe('zstd');
  });

  it.each([
    ['gzip', [0x1f, 0x8b]],
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
    ['a zstd skippable frame', [0x50, 0x2a, 0x4d, 0x18]],
  ])('a plain tar whose first name starts with the magic of %s is a plain tar', (_, magic) => {
    const block = headerStartingWith(magic);
    expect(detectCompression(block)).toBe('none');
    // A block whose checksum does not match is no tar header: the magic decides.
    block[300] = block[300]! ^ 1;
    expect(detectCompression(block)).not.toBe('none');
  });
});
