/** Read-ahead of small records read in file order: the same bytes, fewer reads. */
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { READ_AHEAD_MAX, ReadAhead } from '../../src/node/read-ahead.js';
import { pseudoRandom } from '../helpers/bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-readahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileOf(bytes: Uint8Array): number {
  const path = join(dir, `f${Math.random()}`);
  writeFileSync(path, bytes);
  return openSync(path, 'r');
}

describe('ReadAhead', () => {
  it('serves reads in order from a window, with the bytes of the file', () => {
    const bytes = pseudoRandom(700_000, 5);
    const fd = fileOf(bytes);
    const owner = {};
    const ra = new ReadAhead();
    // The first read is not in order with anything: the caller reads it.
    expect(ra.read(owner, fd, 0, 1000)).toBeUndefined();
    const buffers = new Set<ArrayBufferLike>();
    let served = 0;
    // Records of 1 to 4,000 bytes, one after another, with a skipped one now and then.
    for (let at = 1000, i = 0; at < bytes.length; i++) {
      const n = 1 + ((i * 7919) % 4000);
      const got = ra.read(owner, fd, at, Math.min(n, bytes.length - at));
      if (got) {
        served++;
        buffers.add(got.buffer);
        expect(Buffer.from(got).equals(bytes.subarray(at, at + got.length))).toBe(true);
      }
      at += n + (i % 50 === 49 ? 3000 : 0);
    }
    expect(served).toBeGreaterThan(300);
    expect(buffers.size).toBe(1);
    closeSync(fd);
  });

  it('leaves alone large, out-of-order and past-the-end reads, and other files', () => {
    const bytes = pseudoRandom(100_000, 6);
    const fd = fileOf(bytes);
    const other = fileOf(bytes.slice().reverse());
    const a = {};
    const b = {};
    const ra = new ReadAhead();
    ra.read(a, fd, 0, 100);
    expect(ra.read(a, fd, 100, READ_AHEAD_MAX + 1)).toBeUndefined();
    ra.read(a, fd, 20_000, 100);
    expect(ra.read(a, fd, 20_100, 100)).toBeDefined();
    // Backwards, outside the window: not in order, not served.
    expect(ra.read(a, fd, 5_000, 100)).toBeUndefined();
    // Inside the window (20,000 to the end), in order or not: served, the file's bytes.
    expect(Buffer.from(ra.read(a, fd, 90_000, 100)!).equals(bytes.subarray(90_000, 90_100))).toBe(
      true,
    );
    // Past the end of the file: the caller's read reports the short file.
    expect(ra.read(a, fd, 90_100, 10_000)).toBeUndefined();
    // Another owner's reads never come from this file's window.
    ra.read(b, other, 0, 100);
    const got = ra.read(b, other, 100, 100)!;
    expect(Buffer.from(got).equals(bytes.slice().reverse().subarray(100, 200))).toBe(true);
    closeSync(fd);
    closeSync(other);
  });

  it('keeps a window per file: reads alternating between files in order are served', () => {
    const files = [pseudoRandom(300_000, 7), pseudoRandom(300_000, 8), pseudoRandom(300_000, 9)];
    const fds = files.map(fileOf);
    const owners = files.map(() => ({}));
    const ra = new ReadAhead();
    const at = [0, 0, 0];
    let reads = 0;
    let served = 0;
    // Runs of two records from each file in turn, as a layer whose chunks alternate between
    // the packs of two older layers reads them.
    for (let run = 0; at.every((x, i) => x < files[i]!.length - 1000); run++) {
      const f = run % files.length;
      for (let k = 0; k < 2; k++) {
        const n = 500 + ((run * 31 + k * 17) % 1000);
        const got = ra.read(owners[f]!, fds[f]!, at[f]!, n);
        reads++;
        if (got) {
          served++;
          expect(Buffer.from(got).equals(files[f]!.subarray(at[f]!, at[f]! + n))).toBe(true);
        }
        at[f]! += n;
      }
    }
    // All but the first read of each file, and reads that cross a window's end.
    expect(served).toBeGreaterThan(reads * 0.95);
    for (const fd of fds) closeSync(fd);
  });

  it('keeps its windows while large records of other files are read between', () => {
    const bytes = pseudoRandom(300_000, 11);
    const fd = fileOf(bytes);
    const big = fileOf(pseudoRandom(200_000, 12));
    const a = {};
    const others = Array.from({ length: 6 }, () => ({}));
    const ra = new ReadAhead();
    let served = 0;
    let reads = 0;
    for (let at = 0, i = 0; at + 1000 <= bytes.length; at += 1000, i++) {
      if (ra.read(a, fd, at, 1000)) served++;
      reads++;
      // Large records of four of six other packs after each small one: never served, and
      // none of them may push the small records' window out.
      for (let k = 0; k < 4; k++) {
        const large = ra.read(others[(i + k) % 6]!, big, k * 30_000, READ_AHEAD_MAX + 1);
        expect(large).toBeUndefined();
      }
    }
    expect(served).toBeGreaterThan(reads * 0.95);
    closeSync(fd);
    closeSync(big);
  });

  it("serves one file's reads only from its own window, and nothing once cleared", () => {
    const bytes = pseudoRandom(200_000, 10);
    const reversed = bytes.slice().reverse();
    const fd = fileOf(bytes);
    const other = fileOf(reversed);
    const a = {};
    const b = {};
    const ra = new ReadAhead();
    ra.read(a, fd, 10_000, 100);
    expect(ra.read(a, fd, 10_100, 100)).toBeDefined();
    // The other file, at offsets inside a's window.
    ra.read(b, other, 20_000, 100);
    const got = ra.read(b, other, 20_100, 100)!;
    expect(Buffer.from(got).equals(reversed.subarray(20_100, 20_200))).toBe(true);
    expect(Buffer.from(ra.read(a, fd, 20_100, 100)!).equals(bytes.subarray(20_100, 20_200))).toBe(
      true,
    );
    ra.clear();
    expect(ra.read(a, fd, 20_200, 100)).toBeUndefined();
    closeSync(fd);
    closeSync(other);
  });
});
