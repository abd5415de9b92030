/**
 * The header patches of index format version 2 (`docs/FORMAT.md` §3.9): the bytes where an
 * entry's real header bytes differ from their template, as runs. Pure functions.
 *
 * @module
 */

/**
 * Unchanged bytes between two runs below which the runs are written as one: a new run costs
 * at least two bytes of CBOR (its skip and its byte string's head), so a gap of two or fewer
 * bytes is cheaper carried inside the run.
 */
const MERGE_GAP = 2;

/**
 * The runs that turn `template` into `bytes` (of the same length), flat: `[skip, run, skip,
 * run, …]`, where each `skip` counts the unchanged bytes since the end of the previous run
 * (from byte 0 for the first) and each `run` is a run of `bytes`' own bytes. Empty when they
 * are equal.
 * @param bytes - the real header bytes.
 * @param template - their template, as long as `bytes`.
 * @returns the runs, and how many bytes they hold.
 */
export function diffHeader(
  bytes: Uint8Array,
  template: Uint8Array,
): { runs: Array<number | Uint8Array>; bytes: number } {
  const runs: Array<number | Uint8Array> = [];
  const n = template.length;
  const words = wordsOf(bytes, template);
  let held = 0;
  let end = 0; // end of the last run
  let i = 0;
  while (i < n) {
    if (bytes[i] === template[i]) {
      // Equal stretches, most of a header, four bytes a step where both are aligned.
      if (words && (i & 3) === 0) {
        const [a, b] = words;
        let w = i >>> 2;
        while (w < a.length && a[w] === b[w]) w++;
        i = Math.max(i + 1, w << 2);
      } else i++;
      continue;
    }
    const start = i;
    let last = i; // last differing byte of this run
    for (i++; i < n && i - last <= MERGE_GAP + 1; i++) {
      if (bytes[i] !== template[i]) last = i;
    }
    runs.push(start - end, bytes.slice(start, last + 1));
    held += last + 1 - start;
    end = last + 1;
    i = end;
  }
  return { runs, bytes: held };
}

/** Views of both as 32-bit words (the whole words of `template`'s length), when aligned. */
function wordsOf(a: Uint8Array, b: Uint8Array): [Uint32Array, Uint32Array] | undefined {
  if ((a.byteOffset | b.byteOffset) & 3 || a.length < b.length) return undefined;
  const n = b.length >>> 2;
  return [new Uint32Array(a.buffer, a.byteOffset, n), new Uint32Array(b.buffer, b.byteOffset, n)];
}

/**
 * Applies runs made by {@link diffHeader} (or read from an index) to a template, in place.
 * @param template - the template; becomes the header bytes.
 * @param runs - the runs, checked: skips are unsigned integers, runs non-empty byte strings,
 *   and together they stay within the template.
 * @param fail - called with what is wrong; must throw.
 * @returns the header bytes.
 */
export function patchHeader(
  template: Uint8Array,
  runs: readonly unknown[],
  fail: (msg: string) => never,
): Uint8Array {
  if (runs.length % 2) fail('header patch must hold skip/bytes pairs');
  let at = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const skip = runs[i];
    const bytes = runs[i + 1];
    if (typeof skip !== 'number' || !Number.isSafeInteger(skip) || skip < 0) {
      fail('header patch skip must be an unsigned integer');
    }
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      fail('header patch run must be a non-empty byte string');
    }
    at += skip;
    if (at + bytes.length > template.length) {
      fail(`header patch reaches past byte ${template.length}`);
    }
    template.set(bytes, at);
    at += bytes.length;
  }
  return template;
}
