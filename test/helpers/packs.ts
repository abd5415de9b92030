/**
 * Test access to a pack store's files: list its records, read one, drop one from its index,
 * damage one in place, write an index in the unsorted order of earlier builds.
 */

import { closeSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { decodeLz4Block } from '../../src/compress/lz4-block.js';
import { crc32 } from '../../src/hash/crc32.js';
import { formatDigest } from '../../src/hash/digest.js';
import {
  decodePackIndex,
  encodePackIndex,
  INDEX_ENTRY_BYTES,
  INDEX_HEADER_BYTES,
  type PackEntry,
  RECORD_HEADER_BYTES,
} from '../../src/store/pack-format.js';

/** One chunk record of a pack store. */
export interface PackRecord {
  digest: string;
  pack: string;
  idx: string;
  entry: PackEntry;
}

/** Every record listed by the published indexes of a pack store. */
export function packRecords(store: string): PackRecord[] {
  const dir = join(store, 'packs');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.idx'))
    .sort()
    .flatMap((f) => {
      const idx = join(dir, f);
      const pack = idx.replace(/\.idx$/, '.pack');
      return decodePackIndex(new Uint8Array(readFileSync(idx)), idx).entries.map((entry) => ({
        digest: formatDigest(entry.digest),
        pack,
        idx,
        entry,
      }));
    });
}

/** The record with the most stored bytes (ties broken by digest). */
export function largestRecord(store: string): PackRecord {
  return packRecords(store).sort(
    (a, b) => b.entry.stored - a.entry.stored || a.digest.localeCompare(b.digest),
  )[0]!;
}

/** A record's chunk bytes, decoded. */
export function recordBytes(r: PackRecord): Buffer {
  const at = r.entry.offset + RECORD_HEADER_BYTES;
  const stored = readFileSync(r.pack).subarray(at, at + r.entry.stored);
  if (r.entry.coding === 'lz4-block') {
    return Buffer.from(decodeLz4Block(stored, r.entry.raw));
  }
  return r.entry.coding === 'deflate-raw' ? inflateRawSync(stored) : stored;
}

/** Rewrites a record's pack index without it, so that the store no longer holds the chunk. */
export function dropRecord(r: PackRecord): void {
  const index = decodePackIndex(new Uint8Array(readFileSync(r.idx)), r.idx);
  const kept = index.entries.filter((e) => formatDigest(e.digest) !== r.digest);
  writeFileSync(r.idx, encodePackIndex(kept, index.packSize));
}

/** Flips one bit of a record's stored bytes in its pack. */
export function flipStoredBit(r: PackRecord, at = r.entry.stored >> 1): void {
  const pos = r.entry.offset + RECORD_HEADER_BYTES + at;
  const byte = readFileSync(r.pack).subarray(pos, pos + 1);
  byte[0]! ^= 0x01;
  const fd = openSync(r.pack, 'r+');
  try {
    writeSync(fd, byte, 0, 1, pos);
  } finally {
    closeSync(fd);
  }
}

/** Rewrites a pack's index in reverse order, as earlier builds wrote them (the table path). */
export function reverseIndex(idx: string): void {
  const sorted = new Uint8Array(readFileSync(idx));
  const count = (sorted.length - INDEX_HEADER_BYTES - 4) / INDEX_ENTRY_BYTES;
  const reversed = sorted.slice();
  for (let i = 0; i < count; i++) {
    const from = INDEX_HEADER_BYTES + (count - 1 - i) * INDEX_ENTRY_BYTES;
    reversed.set(
      sorted.subarray(from, from + INDEX_ENTRY_BYTES),
      INDEX_HEADER_BYTES + i * INDEX_ENTRY_BYTES,
    );
  }
  const body = reversed.length - 4;
  new DataView(reversed.buffer).setUint32(body, crc32(reversed.subarray(0, body)));
  writeFileSync(idx, reversed);
}
