/**
 * The pull-based zstd decoder against streams written by the real `zstd` (and `pzstd`) CLI at
 * test time: every shape of stream decodes to the input, whatever the input split and slice size.
 */
import { describe, expect, it } from 'vitest';
import { concat, pseudoRandom } from '../helpers/bytes.js';
import { sha256 } from '../helpers/streams.js';
import { toolsAvailable } from '../helpers/tools.js';
import {
  decodeZstd,
  parseFrames,
  randomSizes,
  sampleData,
  skippableFrame,
  zstdCli,
} from './frames.js';

const run = toolsAvailable('zstd');

describe.runIf(run).each(['wasm', 'fzstd'] as const)(
  'zstd streams from the CLI, %s engine',
  (engine) => {
    const data = sampleData(300_000, 11);
    const other = sampleData(70_000, 23);

    /** name, stream, expected output, and a check that the stream has the shape the name claims. */
    const cases: Array<[string, () => Uint8Array, Uint8Array, (b: Uint8Array) => void]> = [
      [
        'one frame, checksum, no content size (stdin)',
        () => zstdCli(data, ['-3']),
        data,
        (b) => {
          const [f, ...rest] = parseFrames(b);
          expect(rest).toEqual([]);
          expect(f).toMatchObject({ kind: 'zstd', checksum: true, hasContentSize: false });
          expect(f!.blocks.length).toBeGreaterThan(1);
        },
      ],
      [
        'one frame, --no-check',
        () => zstdCli(data, ['-3', '--no-check']),
        data,
        (b) => expect(parseFrames(b)).toMatchObject([{ checksum: false, hasContentSize: false }]),
      ],
      [
        'one frame, content size present (file input)',
        () => zstdCli(data, ['-3'], 'file'),
        data,
        (b) => expect(parseFrames(b)).toMatchObject([{ checksum: true, hasContentSize: true }]),
      ],
      [
        'level 1',
        () => zstdCli(data, ['-1', '--no-check'], 'file'),
        data,
        (b) => expect(parseFrames(b)).toHaveLength(1),
      ],
      [
        'level 19',
        () => zstdCli(data, ['-19']),
        data,
        (b) => expect(parseFrames(b)).toHaveLength(1),
      ],
      [
        'small input: single-segment frame',
        () => zstdCli(other.subarray(0, 300), ['-3'], 'file'),
        other.subarray(0, 300),
        (b) =>
          expect(parseFrames(b)).toMatchObject([{ singleSegment: true, hasContentSize: true }]),
      ],
      [
        'empty input',
        () => zstdCli(new Uint8Array(0), ['-3'], 'file'),
        new Uint8Array(0),
        (b) => expect(parseFrames(b)).toHaveLength(1),
      ],
      [
        'incompressible input: raw blocks',
        () => zstdCli(randomBytes(200_000), ['-3']),
        randomBytes(200_000),
        (b) => expect(parseFrames(b)[0]!.blocks.some((x) => x.type === 0)).toBe(true),
      ],
      [
        'run of one byte: RLE blocks',
        () => zstdCli(new Uint8Array(400_000).fill(7), ['-3', '--no-check']),
        new Uint8Array(400_000).fill(7),
        (b) => expect(parseFrames(b)[0]!.blocks.some((x) => x.type === 1)).toBe(true),
      ],
      [
        'concatenated frames, mixed options',
        () =>
          concat([
            zstdCli(data, ['-1']),
            zstdCli(other, ['-19', '--no-check'], 'file'),
            zstdCli(new Uint8Array(0), []),
            zstdCli(data.subarray(0, 5000), ['-3'], 'file'),
          ]),
        concat([data, other, data.subarray(0, 5000)]),
        (b) => expect(parseFrames(b)).toHaveLength(4),
      ],
      [
        'skippable frames between and around frames',
        () =>
          concat([
            skippableFrame(Uint8Array.of(1, 2, 3), 0),
            zstdCli(data, ['-3']),
            skippableFrame(new Uint8Array(0), 0xf),
            skippableFrame(sampleData(1000, 5), 7),
            zstdCli(other, ['-3', '--no-check']),
            skippableFrame(Uint8Array.of(9), 2),
          ]),
        concat([data, other]),
        (b) =>
          expect(parseFrames(b).map((f) => f.kind)).toEqual([
            'skippable',
            'zstd',
            'skippable',
            'skippable',
            'zstd',
            'skippable',
          ]),
      ],
    ];

    for (const [name, make, expected, check] of cases) {
      describe(name, () => {
        const bytes = make();
        it('has the shape the case claims', () => check(bytes));
        it('decodes whole, in 1-byte pieces and in random pieces', async () => {
          const want = sha256(expected);
          expect(sha256(await decodeZstd(bytes, bytes.length || 1, { engine }))).toBe(want);
          expect(sha256(await decodeZstd(bytes, 1, { engine }))).toBe(want);
          for (const seed of [1, 2, 3]) {
            expect(sha256(await decodeZstd(bytes, randomSizes(seed), { engine }))).toBe(want);
          }
        });
        it('decodes identically with tiny and huge output slices', async () => {
          const want = sha256(expected);
          for (const sliceBytes of [1, 1000, 128 * 1024, 64 * 1024 * 1024]) {
            expect(
              sha256(await decodeZstd(bytes, randomSizes(sliceBytes), { sliceBytes, engine })),
            ).toBe(want);
          }
        });
      });
    }

    // The wasm engine's history is a ring of the window plus two blocks: streams of several
    // times that, with matches as far back as the window allows, cross its wrap again and
    // again (and fzstd gets the same streams).
    it('long streams whose matches reach across the history ring wrap', async () => {
      const long = concat([sampleData(3_000_000, 41), data, sampleData(2_000_000, 43), data]);
      const want = sha256(long);
      for (const args of [
        ['-3', '--zstd=wlog=10'],
        ['-6', '--zstd=wlog=17'],
        ['-19', '--zstd=wlog=20'],
        ['--long=22', '-3'],
      ]) {
        const bytes = zstdCli(long, args);
        expect(sha256(await decodeZstd(bytes, randomSizes(args.length), { engine }))).toBe(want);
      }
    });

    // Random bytes repeated with a period of exactly the window: every match reaches back the
    // whole window, the farthest a frame allows, and the ring's passes (three blocks longer
    // than the window) end at every alignment to the period as the prefix shifts them.
    it('matches reaching back the whole window, across every wrap', async () => {
      const window = 1 << 17;
      const period = randomBytes(window);
      for (const prefix of [0, 1, 4095, 70_001]) {
        const bytes = concat([pseudoRandom(prefix, 7), ...Array<Uint8Array>(12).fill(period)]);
        const packed = zstdCli(bytes, ['-19', '--zstd=wlog=17']);
        // Compressed to about one period: the eleven repeats are matches of the full window.
        expect(packed.length).toBeLessThan(prefix + 2 * window);
        const got = await decodeZstd(packed, randomSizes(prefix + 3), { engine });
        expect(sha256(got)).toBe(sha256(bytes));
      }
    });

    it.runIf(toolsAvailable('pzstd'))(
      'pzstd output (starts with a skippable frame) decodes',
      async () => {
        const bytes = new Uint8Array(
          (await import('node:child_process')).execFileSync('pzstd', ['-q', '-c', '-p', '2'], {
            input: data,
          }),
        );
        expect(parseFrames(bytes)[0]!.kind).toBe('skippable');
        expect(sha256(await decodeZstd(bytes, randomSizes(9), { engine }))).toBe(sha256(data));
      },
    );
  },
);

// Deterministic "random" bytes: xorshift, so every run compresses the same input.
const randomBytes = (n: number): Uint8Array => pseudoRandom(n, 0x9e3779b9);
