/**
 * The built package as its users load it: every path of package.json's exports map exists in
 * dist/, `require` and `import` give the same names for `layerdiff` and `layerdiff/node`, and a
 * CommonJS program (a child process, so that nothing of vitest's module loading stands in
 * between) converts a tar into a store on disk and rebuilds it exactly. Needs `npm run build`
 * first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tarOf } from '../bundle/helpers.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  exports: Record<string, string | Record<string, Record<string, string> | string>>;
  bin: Record<string, string>;
};
const work = mkdtempSync(join(tmpdir(), 'layerdiff-entry-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file path named anywhere in an exports map entry. */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  return Object.values(entry as Record<string, unknown>).flatMap(targets);
}

describe('package entry points', () => {
  it('every file the exports map and bin name is built', () => {
    const files = [...Object.values(pkg.exports).flatMap(targets), ...Object.values(pkg.bin)];
    expect(files.length).toBeGreaterThan(10);
    const missing = files.filter((f) => !existsSync(join(root, f)));
    expect(missing).toEqual([]);
  });

  it('require and import give the same names', async () => {
    // The package refers to itself by name, as a dependent's code would.
    const require = createRequire(join(root, 'package.json'));
    for (const entry of [pkg.name, `${pkg.name}/node`]) {
      const cjs = Object.keys(require(entry) as object).sort();
      const esm = Object.keys(await import(entry))
        .filter((k) => k !== 'default')
        .sort();
      expect(cjs.length, entry).toBeGreaterThan(20);
      expect(cjs, entry).toEqual(esm);
    }
  });

  it('a CommonJS program converts a tar into a store on disk and rebuilds it exactly', () => {
    const tar = tarOf([
      ['etc/os-release', new TextEncoder().encode('NAME=layerdiff\n')],
      ['usr/lib/big.bin', pseudoRandom(700_000, 3)],
    ]);
    const tarFile = join(work, 'layer.tar');
    writeFileSync(tarFile, tar);
    // Inside the package, so that it finds the package by its name; one per run.
    const script = join(root, `test/package/.entry-check-${process.pid}.cjs`);
    writeFileSync(
      script,
      `
const { convert, reassemble } = require('layerdiff');
const { fileSource, nodeHashProvider, openStore } = require('layerdiff/node');
const { createHash } = require('node:crypto');
(async () => {
  const [tarFile, storeDir] = process.argv.slice(2);
  const store = await openStore(storeDir);
  const { index, done } = convert(fileSource(tarFile), { store, hash: nodeHashProvider() });
  const parts = [];
  for await (const part of index) parts.push(part);
  const { diffId } = await done;
  const rebuilt = createHash('sha256');
  for await (const part of reassemble(new Blob(parts).stream(), store)) rebuilt.update(part);
  await store.close();
  process.stdout.write(JSON.stringify({ diffId, rebuilt: 'sha256:' + rebuilt.digest('hex') }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
`,
    );
    try {
      const out = execFileSync(process.execPath, [script, tarFile, join(work, 'store')], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(JSON.parse(out)).toEqual({ diffId: sha256(tar), rebuilt: sha256(tar) });
    } finally {
      rmSync(script, { force: true });
    }
  });
});
