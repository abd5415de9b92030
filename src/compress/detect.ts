/**
 * Compression detection by magic bytes. Pure.
 *
 * @module
 */
import type { Compression } from '../format/records.js';

/**
 * Bytes needed to tell every supported format apart: a whole tar header block, since a plain
 * tar whose first name starts with a compression magic (`\x1f\x8bdata`) is still a tar.
 */
export const SNIFF_BYTES = 512;

/**
 * Tells how a blob is compressed from its first bytes.
 * @param head - at least {@link SNIFF_BYTES} bytes (fewer only when the blob is that short).
 * @returns `'none'` when the first 512 bytes are a tar header block (its checksum matches),
 *   else `'gzip'` (1f 8b), `'zstd'` (28 b5 2f fd, or a skippable frame's 5? 2a 4d 18, which
 *   `pzstd` writes first) or `'none'`.
 */
export function detectCompression(head: Uint8Array): Compression {
  if (isTarHeader(head)) return 'none';
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (
    head.length >= 4 &&
    head[0] === 0x28 &&
    head[1] === 0xb5 &&
    head[2] === 0x2f &&
    head[3] === 0xfd
  ) {
    return 'zstd';
  }
  // A zstd stream may start with a skippable frame (magic 0x184D2A50..0x184D2A5F, LE).
  if (
    head.length >= 4 &&
    (head[0]! & 0xf0) === 0x50 &&
    head[1] === 0x2a &&
    head[2] === 0x4d &&
    head[3] === 0x18
  ) {
    return 'zstd';
  }
  return 'none';
}

/**
 * Whether `head` starts with a tar header block: its checksum field (bytes 148–155, octal) is
 * the sum of the block's bytes with that field taken as spaces, summed as unsigned or as signed
 * chars (as tar implementations have done both). Compressed data all but never passes.
 */
function isTarHeader(head: Uint8Array): boolean {
  if (head.length < 512) return false;
  let stored = 0;
  let digits = 0;
  let at = 148;
  while (at < 156 && head[at] === 0x20) at++;
  for (; at < 156 && head[at]! >= 0x30 && head[at]! <= 0x37; at++, digits++) {
    stored = stored * 8 + head[at]! - 0x30;
  }
  if (digits === 0 || (at < 156 && head[at] !== 0 && head[at] !== 0x20)) return false;
  let unsigned = 8 * 0x20;
  let signed = 8 * 0x20;
  for (let i = 0; i < 512; i++) {
    if (i >= 148 && i < 156) continue;
    const b = head[i]!;
    unsigned += b;
    signed += b < 128 ? b : b - 256;
  }
  return stored === unsigned || stored === signed;
}
