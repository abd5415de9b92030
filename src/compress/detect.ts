/**
 * Compression detection by magic bytes. Pure.
 *
 * @module
 */
import type { Compression } from '../format/records.js';
import { BLOCK_SIZE, headerChecksums, parseNumericField } from '../tar/header.js';

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
 * Whether `head` starts with a tar header block: its checksum field holds one of the block's
 * two checksums, as the tokenizer checks it. Compressed data all but never passes.
 */
function isTarHeader(head: Uint8Array): boolean {
  if (head.length < BLOCK_SIZE) return false;
  let stored: number;
  try {
    stored = parseNumericField(head.subarray(148, 156));
  } catch {
    return false;
  }
  const sums = headerChecksums(head);
  return stored === sums.unsigned || stored === sums.signed;
}
