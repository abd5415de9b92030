/**
 * Compression detection by magic bytes. Pure.
 *
 * @module
 */
import type { Compression } from '../format/records.js';

/** Bytes needed to tell every supported format apart. */
export const SNIFF_BYTES = 4;

/**
 * Tells how a blob is compressed from its first bytes.
 * @param head - at least {@link SNIFF_BYTES} bytes (fewer only when the blob is that short).
 * @returns `'gzip'` (1f 8b), `'zstd'` (28 b5 2f fd, or a skippable frame's 5? 2a 4d 18, which
 *   `pzstd` writes first) or `'none'`.
 */
export function detectCompression(head: Uint8Array): Compression {
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
