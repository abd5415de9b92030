/**
 * zstd frames for tests: made by the real `zstd` CLI, or hand-crafted byte by byte, and a small
 * independent frame parser (RFC 8878 section 3.1.1) so tests can assert what a CLI output really
 * contains and can find the bytes of a particular block to corrupt.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZstdDecoder, type ZstdDecoderOptions } from '../../src/compress/zstd.js';
import { CompressionError } from '../../src/errors.js';
import { concat, xorshift32 } from '../helpers/bytes.js';
import { collect, streamOf } from '../helpers/streams.js';

/** Runs the `zstd` CLI on `input`, given on stdin (no content size) or as a file (content size). */
export function zstdCli(input: Uint8Array, args: string[], via: 'stdin' | 'file' = 'stdin') {
  if (via === 'stdin') {
    return new Uint8Array(
      execFileSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 28 }),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'layerdiff-zstd-'));
  try {
    const file = join(dir, 'in');
    writeFileSync(file, input);
    return new Uint8Array(
      execFileSync('zstd', ['-q', '-c', ...args, file], { maxBuffer: 1 << 28 }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compressible but not trivial bytes: words drawn by a seeded generator. */
export function sampleData(size: number, seed = 1): Uint8Array {
  const words = ['layer', 'chunk', 'digest', 'tar', '\n', 'zstd', ' ', '0123456789', 'index'];
  const out = new Uint8Array(size);
  const next = xorshift32(seed >>> 0 || 1);
  let at = 0;
  while (at < size) {
    const s = next();
    const w = words[s % words.length]!;
    for (let i = 0; i < w.length && at < size; i++)
      out[at++] = w.charCodeAt(i) ^ (s & 0x40 ? 0 : 1);
  }
  return out;
}

const le = (n: number, bytes: number) =>
  Uint8Array.from({ length: bytes }, (_, i) => Math.floor(n / 2 ** (8 * i)) & 0xff);

/** A skippable frame carrying `data`. */
export function skippableFrame(data: Uint8Array, nibble = 0): Uint8Array {
  return concat([le(0x184d2a50 + nibble, 4), le(data.length, 4), data]);
}

/** Window descriptor byte for `2^log` bytes (plus `mantissa` eighths). */
export const windowDescriptor = (log: number, mantissa = 0) => ((log - 10) << 3) | mantissa;

/** A frame header: magic, descriptor (no checksum, no dictionary, no content size), window. */
export function frameHeader(wd: number, checksum = false): Uint8Array {
  return Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd, checksum ? 0x04 : 0x00, wd);
}

/** A 3-byte block header. `type`: 0 raw, 1 RLE, 2 compressed, 3 reserved. */
export function blockHeader(type: number, size: number, last: boolean): Uint8Array {
  return le((size << 3) | (type << 1) | (last ? 1 : 0), 3);
}

/** One frame of `count` RLE blocks, each regenerating `size` copies of `byte`. */
export function rleFrame(count: number, size = 128 * 1024, byte = 0x61): Uint8Array {
  const parts = [frameHeader(windowDescriptor(17))];
  for (let i = 0; i < count; i++)
    parts.push(blockHeader(1, size, i === count - 1), Uint8Array.of(byte));
  return concat(parts);
}

export interface ParsedBlock {
  /** Offset of the block header. */
  offset: number;
  type: number;
  size: number;
  last: boolean;
}

export interface ParsedFrame {
  offset: number;
  kind: 'zstd' | 'skippable';
  /** Total bytes of the frame. */
  length: number;
  singleSegment: boolean;
  hasContentSize: boolean;
  checksum: boolean;
  window: number;
  blocks: ParsedBlock[];
}

/** Lists the frames and blocks of a well-formed zstd stream. */
export function parseFrames(bytes: Uint8Array): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  while (at < bytes.length) {
    const start = at;
    const magic = view.getUint32(at, true);
    if (magic >>> 4 === 0x184d2a5) {
      const len = view.getUint32(at + 4, true);
      at += 8 + len;
      frames.push({
        offset: start,
        kind: 'skippable',
        length: at - start,
        singleSegment: false,
        hasContentSize: false,
        checksum: false,
        window: 0,
        blocks: [],
      });
      continue;
    }
    if (magic !== 0xfd2fb528) throw new Error(`not a zstd frame at ${at}`);
    const fhd = bytes[at + 4]!;
    const single = ((fhd >> 5) & 1) === 1;
    const fcsCode = fhd >> 6;
    const fcsBytes = fcsCode === 0 ? (single ? 1 : 0) : [1, 2, 4, 8][fcsCode]!;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    at += 5;
    let window = 0;
    if (!single) {
      const wd = bytes[at++]!;
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    at += dictBytes;
    if (single) {
      window = 0;
      for (let k = fcsBytes - 1; k >= 0; k--) window = window * 256 + bytes[at + k]!;
      if (fcsBytes === 2) window += 256;
    }
    at += fcsBytes;
    const blocks: ParsedBlock[] = [];
    for (;;) {
      const h = bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16);
      const block = { offset: at, type: (h >> 1) & 3, size: h >>> 3, last: (h & 1) === 1 };
      blocks.push(block);
      at += 3 + (block.type === 1 ? 1 : block.size);
      if (block.last) break;
    }
    const checksum = ((fhd >> 2) & 1) === 1;
    if (checksum) at += 4;
    frames.push({
      offset: start,
      kind: 'zstd',
      length: at - start,
      singleSegment: single,
      hasContentSize: fcsBytes > 0,
      checksum,
      window,
      blocks,
    });
  }
  return frames;
}

/** Decodes `bytes` (fed in pieces of `sizes`) through {@link createZstdDecoder}. */
export function decodeZstd(
  bytes: Uint8Array,
  sizes: number | number[] = 65536,
  options?: ZstdDecoderOptions,
): Promise<Uint8Array> {
  return collect(createZstdDecoder(streamOf(bytes, sizes), options));
}

/** Decodes and returns the error it must fail with; fails the test if it does not fail. */
export async function zstdFailure(
  bytes: Uint8Array,
  sizes: number | number[] = 65536,
  options?: ZstdDecoderOptions,
): Promise<CompressionError> {
  try {
    await decodeZstd(bytes, sizes, options);
  } catch (e) {
    if (e instanceof CompressionError) return e;
    throw e;
  }
  throw new Error('expected the zstd decoder to fail');
}

/** Random piece sizes from a seeded generator: mostly small, now and then large. */
export function randomSizes(seed: number, count = 64): number[] {
  const next = xorshift32(seed >>> 0 || 7);
  return Array.from({ length: count }, () => {
    const r = next();
    return r % 4 === 0 ? 1 + (r % 7) : r % 4 === 1 ? 1 + (r % 5000) : 1 + (r % 70000);
  });
}
