import { describe, expect, it } from 'vitest';
import { detectCompression, SNIFF_BYTES, zstdWindow } from '../../src/compress/detect.js';
import type { Compression } from '../../src/format/records.js';
import { encodeHeader } from '../../src/tar/header.js';
import { concat } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import {
  frameHeader,
  parseFrames,
  sampleData,
  skippableFrame,
  windowDescriptor,
  zstdCli,
} from './frames.js';

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

describe('zstdWindow', () => {
  const MiB = 1024 * 1024;

  it.runIf(toolsAvailable('zstd'))(
    "reads the window the zstd CLI wrote, from SNIFF_BYTES of the stream's head",
    () => {
      // Through a pipe, zstd does not know the size, so the frame keeps the window it was told.
      const data = sampleData(64 * 1024);
      for (const [args, window] of [
        [['-1'], 512 * 1024],
        [['-3', '--zstd=wlog=21'], 2 * MiB],
        [['-19'], 8 * MiB],
        [['-3', '--zstd=wlog=23'], 8 * MiB],
        [['-3', '--zstd=wlog=26'], 64 * MiB],
      ] as const) {
        const stream = zstdCli(data, [...args]);
        expect(parseFrames(stream)[0]!.window).toBe(window);
        expect(zstdWindow(stream.subarray(0, SNIFF_BYTES)), args.join(' ')).toBe(window);
      }
      // From a file of known size, a small frame is single-segment: its window is its size.
      const file = zstdCli(data, ['-19'], 'file');
      expect(parseFrames(file)[0]!.singleSegment).toBe(true);
      expect(zstdWindow(file.subarray(0, SNIFF_BYTES))).toBe(data.length);
    },
  );

  it('passes over skippable frames before the first frame, as pzstd writes one', () => {
    const frame = frameHeader(windowDescriptor(23, 4));
    const head = concat([
      skippableFrame(new Uint8Array(4)),
      skippableFrame(new Uint8Array(0), 15),
      frame,
    ]);
    expect(zstdWindow(head)).toBe(8 * MiB + 4 * MiB);
  });

  it('keeps the window of a header read whole, whatever follows it', () => {
    const header = frameHeader(windowDescriptor(23));
    // A reserved block type, then a block over the frame's largest: the decoder refuses both.
    expect(zstdWindow(concat([header, Uint8Array.of(0x07, 0, 0)]))).toBe(8 * MiB);
    expect(zstdWindow(concat([header, Uint8Array.of(0xff, 0xff, 0xff)]))).toBe(8 * MiB);
  });

  it.each([
    ['a plain tar', encodeHeader({ path: 'a', size: 0, mode: 0o644, mtime: 0 })],
    ['gzip', Uint8Array.of(0x1f, 0x8b, 0x08, 0x00)],
    ['an empty head', new Uint8Array(0)],
    ['the magic alone', Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)],
    ['a header cut before its window', frameHeader(windowDescriptor(23)).subarray(0, 5)],
    ['a reserved bit set', Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, 0x08, windowDescriptor(23))],
    [
      'a skippable frame longer than the head',
      concat([skippableFrame(new Uint8Array(600)), frameHeader(windowDescriptor(23))]).subarray(
        0,
        SNIFF_BYTES,
      ),
    ],
  ])('is undefined for %s', (_name, head) => {
    expect(zstdWindow(head)).toBeUndefined();
  });
});
