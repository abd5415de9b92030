/**
 * Progress events: the typed emitter, and what a conversion and a diff report, which must end
 * at the totals the conversion returns.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { formatProgress } from '../../src/cli/progress.js';
import { Emitter } from '../../src/events/emitter.js';
import type { ConvertPhase, ConvertProgress } from '../../src/events/progress.js';
import { convert } from '../../src/pipeline/convert.js';
import { createDiff } from '../../src/pipeline/diff.js';
import { MemoryStore } from '../../src/store/memory.js';
import { pseudoRandom } from '../helpers/bytes.js';
import { hash } from '../helpers/layers.js';
import { collect, streamOf, within } from '../helpers/streams.js';
import { tarOf } from '../helpers/tars.js';

const tar = tarOf([
  ['a.bin', pseudoRandom(400_000, 1)],
  ['b.txt', new TextEncoder().encode('text\n'.repeat(1000))],
  ['c/.wh.gone', new Uint8Array(0)],
]);

describe('Emitter', () => {
  it('on, once, prepend, off and counts', () => {
    type Ev = { x: (n: number) => void };
    const e = new Emitter<Ev>();
    const seen: string[] = [];
    const a = (n: number) => seen.push(`a${n}`);
    e.on('x', a);
    e.once('x', (n) => seen.push(`once${n}`));
    e.prependListener('x', (n) => seen.push(`first${n}`));
    expect(e.listenerCount('x')).toBe(3);
    expect(e.emit('x', 1)).toBe(true);
    e.off('x', a);
    e.emit('x', 2);
    expect(seen).toEqual(['first1', 'a1', 'once1', 'first2']);
    e.removeAllListeners();
    expect(e.emit('x', 3)).toBe(false);
    // The same function registered with on() and once(): once removes its own entry only.
    const same = (n: number) => seen.push(`s${n}`);
    e.on('x', same);
    e.once('x', same);
    e.emit('x', 4);
    e.emit('x', 5);
    expect(seen.slice(-3)).toEqual(['s4', 's4', 's5']);
    e.removeAllListeners();
    expect(e.eventNames()).toEqual([]);
  });
});

describe('conversion progress', () => {
  it('ends at the totals convert returns, through reading, finishing and done', async () => {
    const gz = new Uint8Array(gzipSync(tar));
    const { index, done, events } = convert(streamOf(gz, 4096), {
      store: new MemoryStore(),
      hash,
      chunker: { min: 1024, avg: 4096, max: 16384 },
    });
    const phases: ConvertPhase[] = [];
    let updates = 0;
    let last: ConvertProgress | undefined;
    events.on('phase', (p) => phases.push(p));
    events.on('progress', (p) => {
      updates++;
      last = { ...p };
    });
    await collect(index);
    const r = await done;
    expect(phases).toEqual(['finishing', 'done']);
    expect(updates).toBeGreaterThan(50);
    expect(last).toEqual({
      phase: 'done',
      bytesIn: gz.length,
      entries: r.entries + r.deletions,
      chunks: r.chunks,
      newChunks: r.newChunks,
      newBytes: r.newBytes,
    });
    expect(r.bytesIn).toBe(gz.length);
  });

  it('a diff reports its bases phase first', async () => {
    const { stream, events } = createDiff(streamOf(tar), {
      bases: [],
      store: new MemoryStore(),
      hash,
    });
    const phases: ConvertPhase[] = [];
    events.on('phase', (p) => phases.push(p));
    await collect(stream);
    expect(phases).toEqual(['bases', 'reading', 'finishing', 'done']);
  });

  it('formats one line, with a percentage when the size is known', () => {
    const p: ConvertProgress = {
      phase: 'reading',
      bytesIn: 512 * 1024 * 1024,
      entries: 12,
      chunks: 300,
      newChunks: 7,
      newBytes: 3 * 1024 * 1024,
    };
    expect(formatProgress(p, 1024 * 1024 * 1024)).toBe(
      'reading    50.0% 512.0/1024.0 MiB  12 entries  300 chunks, 7 new (3.0 MiB)',
    );
    expect(formatProgress(p)).toBe('reading   512.0 MiB  12 entries  300 chunks, 7 new (3.0 MiB)');
  });

  it('a listener that throws neither breaks the conversion nor leaves done pending', async () => {
    const reported: unknown[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
      reported.push(a[1]);
    });
    try {
      const { index, done, events } = convert(streamOf(tar), { store: new MemoryStore(), hash });
      events.on('progress', () => {
        throw new Error('listener bug');
      });
      events.on('phase', (p) => {
        if (p === 'done' || p === 'finishing') throw new Error(`boom ${p}`);
      });
      await collect(index);
      await expect(within(done)).resolves.toMatchObject({ entries: 2 });
      expect(reported.length).toBeGreaterThan(2);
    } finally {
      spy.mockRestore();
    }
  });
});
