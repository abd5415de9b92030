/**
 * Inputs whose compressed digests under klauspost/compress v1.18.2 are pinned in
 * `test/compress/pgzip.test.ts` (that version cannot be built here in CI: Debian 12 packages
 * v1.15.12, and v1.18 needs a newer Go). Changing any of them changes those digests.
 */
import { concat, pseudoRandom, text, xorshift32 } from '../helpers/bytes.js';
import { layerTar } from '../pipeline/flatten-helpers.js';

/** Segments of differing alphabets, skews and repeats: windows that reuse codes or not. */
export function drifting(segments: number, seed: number): Uint8Array {
  const next = xorshift32(seed);
  const parts: Uint8Array[] = [];
  for (let k = 0; k < segments; k++) {
    const size = 20_000 + (next() % 60_000);
    const alphabet = 2 + (next() % 255);
    const skew = 1 + (next() % 4);
    const seg = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      if (i > 64 && next() % 4 === 0) {
        const back = 1 + (next() % 64);
        const len = Math.min(size - i, 3 + (next() % 20));
        for (let j = 0; j < len; j++) seg[i + j] = seg[i + j - back]!;
        i += len - 1;
      } else {
        let r = next() % alphabet;
        for (let j = 1; j < skew; j++) r = Math.min(r, next() % alphabet);
        seg[i] = r;
      }
    }
    parts.push(seg);
  }
  return concat(parts);
}

/** The pinned inputs, by name. */
export function goldenInputs(): Record<string, Uint8Array> {
  const t = text(700_000, 41);
  return {
    'text, 300 KB': text(300_000, 31),
    'a tar': layerTar([
      { type: 'dir', path: 'etc' },
      { type: 'file', path: 'bin/tool', body: pseudoRandom(150_000, 42), mode: 0o755 },
      { type: 'file', path: 'usr/share/doc/words', body: text(400_000, 43) },
    ]),
    'drifting statistics, 2 MB': drifting(40, 44),
    'text, random and runs, 3.5 MiB': concat([
      t,
      pseudoRandom(600_000, 45),
      t,
      new Uint8Array(500_000).fill(7),
      t,
      t,
    ]),
  };
}
