/**
 * Read buffers lent by a recycling file source come back from the body chunker and are reused,
 * and reuse never changes a byte of what is converted: every layer rebuilds exactly, whatever
 * the read size (pieces that split headers, padding and pax records anywhere).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isLent } from '../../src/lend.js';
import { fileSource } from '../../src/node/io.js';
import { convert } from '../../src/pipeline/convert.js';
import { MemoryStore } from '../../src/store/memory.js';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { hash, reassembleBytes } from '../helpers/layers.js';
import { collect, sha256 } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';
import { toolsAvailable } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'layerdiff-recycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A layer with many small files, files whose size is a multiple of 512 (no padding), a long name, and bytes after the end blocks. */
function layerBytes(): Uint8Array {
  const files: Array<[string, Uint8Array]> = [];
  for (let i = 0; i < 120; i++)
    files.push([`etc/f${i}.conf`, pseudoRandom((i * 977) % 3000, i + 1)]);
  for (let i = 0; i < 8; i++) files.push([`usr/block${i}`, pseudoRandom(512 * (i + 1), 300 + i)]);
  files.push([`opt/${'long-directory-name/'.repeat(8)}file.bin`, pseudoRandom(200_000, 7)]);
  files.push(['usr/lib/big.so', pseudoRandom(700_000, 8)]);
  return concat([tarOf(files), new TextEncoder().encode('trailing bytes after the end blocks')]);
}

/** Converts a file through a recycling source; returns the rebuilt tar and how many distinct buffers it read into. */
async function roundTrip(path: string, readSize: number, blocking: boolean) {
  const store = new MemoryStore();
  const buffers = new Set<ArrayBufferLike>();
  let pieces = 0;
  const source = fileSource(path, { readSize, blocking, recycle: true }).pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(piece, controller) {
        expect(isLent(piece.buffer)).toBe(true);
        buffers.add(piece.buffer);
        pieces++;
        controller.enqueue(piece);
      },
    }),
  );
  const { index, done } = convert(source, { store, hash });
  const root = await collect(index);
  await done;
  return { tar: await reassembleBytes(root, store), buffers: buffers.size, pieces };
}

describe('recycling file source', () => {
  const layer = layerBytes();
  const path = join(dir, 'layer.tar');
  writeFileSync(path, layer);

  it.each([
    [100, true],
    [512, false],
    [777, true],
    [4096, false],
    [65536, true],
  ])('read size %i (blocking %s): exact rebuild, buffers reused', async (readSize, blocking) => {
    const r = await roundTrip(path, readSize, blocking);
    expect(sha256(r.tar)).toBe(sha256(layer));
    expect(r.pieces).toBe(Math.ceil(layer.length / readSize));
    // A handful of buffers in flight at once, each reused many times.
    if (r.pieces > 100) expect(r.buffers).toBeLessThan(r.pieces / 4);
  });

  it.runIf(toolsAvailable('gzip'))(
    'a gzip layer: its buffers are never given back, and it rebuilds exactly',
    async () => {
      const gz = join(dir, 'layer.tar.gz');
      writeFileSync(gz, execFileSync('gzip', ['-n', '-c', path], { maxBuffer: 1 << 26 }));
      const r = await roundTrip(gz, 4096, true);
      expect(sha256(r.tar)).toBe(sha256(layer));
      // The chunker sees zlib's output, never the lent read buffers.
      expect(r.buffers).toBe(r.pieces);
    },
  );

  // The zstd decoder copies what it reads into its memory, so it gives each read buffer back
  // as soon as the next one comes; its own output goes out in lent buffers that it reuses
  // once the chunker gives them back. A buffer reused too early would change the rebuild.
  it.runIf(toolsAvailable('zstd'))(
    'a zstd layer: read buffers and output buffers reused, and it rebuilds exactly',
    async () => {
      const zst = join(dir, 'layer.tar.zst');
      // Several frames (-B), so output pieces cross frame ends as well.
      execFileSync('zstd', ['-q', '-f', '-3', '-B300000', path, '-o', zst]);
      for (const readSize of [100, 4096, 65536]) {
        const r = await roundTrip(zst, readSize, true);
        expect(sha256(r.tar)).toBe(sha256(layer));
        if (r.pieces > 100) expect(r.buffers).toBeLessThan(r.pieces / 4);
      }
    },
  );
});
