/**
 * flatten property: random stacks of small layers (files, directories, symlinks, hardlinks to
 * files earlier in the same layer, whiteouts and opaque whiteouts over a tiny name space, so
 * that paths collide a lot) flatten to the same tree as the layer-by-layer GNU tar reference,
 * unpacked by GNU tar and by bsdtar.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { pseudoRandom } from '../helpers/bytes.js';
import { toolsAvailable } from '../helpers/tools.js';
import {
  checkStructure,
  extract,
  flattenTars,
  layerTar,
  referenceApply,
  type Spec,
  snapshot,
} from './flatten-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-flatten-prop-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BODIES = [
  new Uint8Array(0),
  new TextEncoder().encode('x'),
  pseudoRandom(700, 1),
  pseudoRandom(70_000, 2),
];

const path = fc
  .array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 3 })
  .map((s) => s.join('/'));
type Op =
  | { type: 'file'; path: string; body: number; mode: number }
  | { type: 'dir'; path: string; mode: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'hardlink'; path: string; link: number }
  | { type: 'whiteout'; path: string }
  | { type: 'opaque'; path: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant('file' as const),
      path,
      body: fc.nat(3),
      mode: fc.constantFrom(0o644, 0o600, 0o755, 0o400),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('dir' as const),
      path,
      mode: fc.constantFrom(0o755, 0o700, 0o750),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('symlink' as const),
      path,
      target: fc.constantFrom('t', '../t', 'a/b', '/abs'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ type: fc.constant('hardlink' as const), path, link: fc.nat() }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('whiteout' as const), path }) },
  {
    weight: 1,
    arbitrary: fc.record({
      type: fc.constant('opaque' as const),
      path: fc.oneof(path, fc.constant('')),
    }),
  },
);

/**
 * Turns random operations into a layer GNU tar can extract unambiguously: every path at most
 * once, nothing below a non-directory of the same layer, hardlinks only to a file written
 * earlier in the layer.
 */
function toLayer(ops: Op[]): Spec[] {
  const out: Spec[] = [];
  const kinds = new Map<string, string>();
  const files: string[] = [];
  const whiteouts = new Set<string>();
  const blocked = (p: string, dir: boolean) => {
    if (kinds.has(p)) return true;
    const segs = p.split('/');
    for (let k = 1; k < segs.length; k++) {
      const kind = kinds.get(segs.slice(0, k).join('/'));
      if (kind !== undefined && kind !== 'dir') return true;
    }
    // A non-directory may not sit above something already in the layer.
    if (!dir) for (const q of kinds.keys()) if (q.startsWith(`${p}/`)) return true;
    return false;
  };
  for (const o of ops) {
    if (o.type === 'whiteout' || o.type === 'opaque') {
      const key = `${o.type}:${o.path}`;
      if (whiteouts.has(key)) continue;
      whiteouts.add(key);
      out.push(o);
      continue;
    }
    if (blocked(o.path, o.type === 'dir')) continue;
    switch (o.type) {
      case 'file':
        out.push({ type: 'file', path: o.path, body: BODIES[o.body]!, mode: o.mode });
        files.push(o.path);
        break;
      case 'dir':
        out.push(o);
        break;
      case 'symlink':
        out.push(o);
        break;
      case 'hardlink':
        if (files.length === 0) continue;
        out.push({ type: 'hardlink', path: o.path, target: files[o.link % files.length]! });
        break;
    }
    kinds.set(o.path, o.type);
  }
  return out;
}

const stack = fc.array(fc.array(op, { minLength: 1, maxLength: 8 }), {
  minLength: 1,
  maxLength: 4,
});

describe.skipIf(!toolsAvailable('tar', 'bsdtar', 'python3'))('flatten property', () => {
  it('equals the layer-by-layer reference for random stacks', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(stack, async (opsList) => {
        const layers = opsList.map(toLayer);
        const dir = join(work, `run-${run++}`);
        mkdirSync(dir);
        const tars = layers.map(layerTar);
        const files = tars.map((t, i) => {
          const f = join(dir, `layer-${i}.tar`);
          writeFileSync(f, t);
          return f;
        });
        const { tar } = await flattenTars(tars);
        extract(tar, join(dir, 'flat.tar'), join(dir, 'gnu'));
        extract(tar, join(dir, 'flat.tar'), join(dir, 'bsd'), 'bsd');
        referenceApply(files, join(dir, 'ref'));
        const tree = snapshot(join(dir, 'gnu'));
        expect(tree).toEqual(snapshot(join(dir, 'ref')));
        expect(snapshot(join(dir, 'bsd'))).toEqual(tree);
        expect(checkStructure(join(dir, 'flat.tar'))).toEqual([]);
        rmSync(dir, { recursive: true });
      }),
      { numRuns: 40, seed: 20240607 },
    );
  });
});
