// @ts-check
/**
 * What the built CLI's shebang line (`#!/usr/bin/env -S NAME=value... node --flag...`) gives
 * the process, so that benchmarks run `node dist/cli.js` as an installed `layerdiff` runs:
 * its environment assignments and its Node flags.
 */
import { readFileSync } from 'node:fs';

/**
 * The shebang line of `cli` as `{ env, flags }`: its `NAME=value` words and its `--` words.
 * @param {string} cli - path of `dist/cli.js`.
 */
export function shebangOf(cli) {
  const words = (readFileSync(cli, 'utf8').split('\n', 1)[0] ?? '').split(' ');
  /** @type {Record<string, string>} */
  const env = {};
  for (const w of words) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(w);
    if (m) env[m[1] ?? ''] = m[2] ?? '';
  }
  return { env, flags: words.filter((w) => w.startsWith('--')) };
}
