/**
 * flatten on a real OCI image: three layers written by umoci (Go's archive/tar, with the
 * whiteouts umoci computes for deletions and replacements), converted, flattened and unpacked
 * by GNU tar, compared with the rootfs `umoci unpack` makes of the same image.
 */
import { execFileSync } from 'node:child_process';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flatten } from '../../src/pipeline/flatten.js';
import { MemoryStore } from '../../src/store/memory.js';
import { convertBytes, hash, indexRecords } from '../helpers/layers.js';
import { collect, streamOf } from '../helpers/streams.js';
import { isRoot, toolsAvailable } from '../helpers/tools.js';
import { checkStructure, extract, snapshot } from './flatten-helpers.js';

const work = mkdtempSync(join(tmpdir(), 'layerdiff-flatten-umoci-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('flatten of an image built by umoci', () => {
  // umoci without --rootless needs root (CI runs as root).
  it.skipIf(!isRoot)('matches the rootfs umoci unpacks', async () => {
    if (!toolsAvailable('umoci', 'gzip', 'tar')) return;
    const layout = join(work, 'oci');
    const bundle = join(work, 'bundle');
    const umoci = (...args: string[]) => execFileSync('umoci', args, { stdio: 'pipe' });
    umoci('init', '--layout', layout);
    umoci('new', '--image', `${layout}:t`);
    umoci('unpack', '--image', `${layout}:t`, bundle);
    const rootfs = join(bundle, 'rootfs');
    const at = (p: string) => join(rootfs, p);
    const write = (p: string, body: string, mode = 0o644) => {
      writeFileSync(at(p), body, { mode });
    };

    // Layer 1.
    for (const d of ['etc/app', 'usr/share/doc/pkg', 'bin', 'lib/data', 'opt']) {
      mkdirSync(at(d), { recursive: true });
    }
    write('etc/app/config', 'key=value\n');
    write('etc/app/other', 'other\n', 0o600);
    write('usr/share/doc/pkg/README', 'doc\n'.repeat(1000));
    write('bin/tool', 'tool v1\n'.repeat(5000), 0o755);
    linkSync(at('bin/tool'), at('bin/tool-alias'));
    linkSync(at('bin/tool'), at('bin/tool-alias2'));
    linkSync(at('bin/tool'), at('bin/tool-alias3'));
    symlinkSync('../bin/tool', at('opt/tool-link'));
    write('lib/data/a', 'a\n');
    write('lib/data/b', 'b\n');
    write('opt/thing', 'a file for now\n');
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);

    // Layer 2: delete a directory and a file, replace a file by a directory, break a link.
    rmSync(at('usr/share/doc'), { recursive: true });
    rmSync(at('etc/app/config'));
    write('etc/app/new', 'new\n');
    rmSync(at('opt/thing'));
    mkdirSync(at('opt/thing'));
    write('opt/thing/inside', 'inside\n');
    rmSync(at('bin/tool-alias2'));
    write('bin/tool-alias2', 'separate now\n', 0o700);
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);

    // Layer 3: delete the hardlink target, re-create a directory with new contents, replace a
    // directory by a symlink.
    rmSync(at('bin/tool'));
    rmSync(at('lib/data'), { recursive: true });
    mkdirSync(at('lib/data'));
    write('lib/data/c', 'c\n');
    rmSync(at('opt/thing'), { recursive: true });
    symlinkSync('/etc/app', at('opt/thing'));
    umoci('repack', '--refresh-bundle', '--image', `${layout}:t`, bundle);

    const blob = (d: string) => join(layout, 'blobs', 'sha256', d.slice(7));
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
    expect(manifest.layers).toHaveLength(3);

    const store = new MemoryStore();
    const indexes: Uint8Array[] = [];
    const deletions: string[] = [];
    for (const layer of manifest.layers) {
      const gz = new Uint8Array(readFileSync(blob(layer.digest)));
      const { index: idx } = await convertBytes(gz, store);
      indexes.push(idx);
      for (const r of await indexRecords(idx, store))
        if (r.type === 'delete') deletions.push(r.path);
    }
    // umoci wrote whiteouts, so the merge is really exercised.
    expect(deletions).toEqual(expect.arrayContaining(['usr/share/doc', 'etc/app/config']));

    const warnings: unknown[] = [];
    const tar = await collect(
      flatten(
        indexes.map((idx) => () => streamOf(idx, 4096)),
        store,
        { hash, onWarning: (w) => warnings.push(w) },
      ),
    );
    expect(warnings).toEqual([]);
    const flat = join(work, 'flat');
    extract(tar, join(work, 'flat.tar'), flat);
    expect(checkStructure(join(work, 'flat.tar'))).toEqual([]);

    const fresh = join(work, 'fresh');
    umoci('unpack', '--image', `${layout}:t`, fresh);
    const expected = snapshot(join(fresh, 'rootfs'));
    const tree = snapshot(flat);
    expect(tree).toEqual(expected);
    // The point of the stack: the deleted target's content lives on in its link group.
    expect(tree['bin/tool-alias']).toMatchObject({ type: 'file', group: 'bin/tool-alias' });
    expect(tree['bin/tool-alias3']!.group).toBe('bin/tool-alias');
    expect(tree['bin/tool-alias2']!.group).toBeUndefined();
    expect(tree['bin/tool']).toBeUndefined();
    expect(tree['opt/thing']).toMatchObject({ type: 'symlink', content: '/etc/app' });
    expect(Object.keys(tree).filter((p) => p.startsWith('lib/data/'))).toEqual(['lib/data/c']);
  });
});
