// Golden vectors: cut points are part of the on-disk format. If one of these changes, the
// algorithm changed, and it needs a new CDC_ALGORITHM identifier, not new numbers here.
import { describe, expect, it } from 'vitest';
import { createGearTable, GEAR_SEED } from '../../src/cdc/gear.js';
import { jsKernel } from '../../src/cdc/js-kernel.js';
import { CDC_ALGORITHM, DEFAULT_CHUNKER_PARAMS } from '../../src/cdc/params.js';
import type { CdcKernel, ChunkerParams } from '../../src/cdc/types.js';
import { cutsOf, lengthsOf, referenceCuts, wasmKernel, xorshiftBytes } from './helpers.js';

const MAX = DEFAULT_CHUNKER_PARAMS.max;
const SMALL: ChunkerParams = { min: 256, avg: 1024, max: 4096 };

function periodic(length: number, pattern: Uint8Array): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = pattern[i % pattern.length]!;
  return out;
}

const vectors: {
  name: string;
  params: ChunkerParams;
  data: () => Uint8Array;
  lengths: number[];
}[] = [
  {
    name: '4 MiB of xorshift32(seed 1), default params',
    params: DEFAULT_CHUNKER_PARAMS,
    data: () => xorshiftBytes(4 << 20, 1),
    lengths: [
      73494, 107098, 61740, 40405, 67917, 67881, 59551, 86242, 25312, 75634, 76168, 74274, 19164,
      69620, 160207, 76394, 84130, 67776, 95631, 75424, 63251, 72959, 94481, 87741, 20856, 68138,
      66245, 85027, 84098, 76255, 79239, 66955, 82841, 100463, 98068, 49084, 70629, 86697, 22808,
      94494, 83866, 75261, 69556, 24708, 88513, 75624, 80677, 83543, 76619, 97015, 97440, 30180,
      82068, 79818, 92528, 82796, 39701,
    ],
  },
  {
    name: '1 MiB of zeros, default params',
    params: DEFAULT_CHUNKER_PARAMS,
    data: () => new Uint8Array(1 << 20),
    lengths: [MAX, MAX, MAX, MAX],
  },
  {
    name: '1 MiB of "abcd" repeated, default params',
    params: DEFAULT_CHUNKER_PARAMS,
    data: () => periodic(1 << 20, new TextEncoder().encode('abcd')),
    lengths: [MAX, MAX, MAX, MAX],
  },
  {
    name: '1 MiB repeating 1000 random bytes, default params',
    params: DEFAULT_CHUNKER_PARAMS,
    data: () => periodic(1 << 20, xorshiftBytes(1000, 7)),
    lengths: [MAX, MAX, MAX, MAX],
  },
  {
    name: '64 KiB of xorshift32(seed 2), min/avg/max 256/1024/4096',
    params: SMALL,
    data: () => xorshiftBytes(64 << 10, 2),
    lengths: [
      828, 1039, 1033, 1505, 401, 1377, 1218, 1166, 1482, 1247, 1024, 1263, 1025, 424, 1235, 1034,
      1288, 491, 1027, 681, 1315, 1044, 2140, 1276, 1107, 1032, 1173, 1029, 1178, 1060, 1268, 1140,
      1024, 1481, 1158, 1371, 1025, 748, 1420, 350, 1176, 1272, 1222, 1130, 868, 1431, 1976, 1107,
      1247, 1043, 554, 989, 1196, 1137, 1091, 1567, 1174, 1068, 161,
    ],
  },
  {
    name: '20000 bytes of 0xff, min/avg/max 256/1024/4096',
    params: SMALL,
    data: () => new Uint8Array(20000).fill(0xff),
    lengths: [4096, 4096, 4096, 4096, 3616],
  },
];

describe('fastcdc-gear32-v1 golden vectors', () => {
  it('has a stable identifier', () => {
    expect(CDC_ALGORITHM).toBe('fastcdc-gear32-v1');
    expect(DEFAULT_CHUNKER_PARAMS).toEqual({ min: 16384, avg: 65536, max: 262144 });
  });

  it('has a stable gear table', () => {
    const gear = createGearTable();
    expect(GEAR_SEED).toBe(0x4c444946);
    expect(Array.from(gear.subarray(0, 4))).toEqual([
      0xe3092785, 0xe7f63258, 0x4228a0dc, 0x21f95358,
    ]);
    expect(Array.from(gear.subarray(252))).toEqual([
      0xff47f6ff, 0xd7e7a912, 0x14d5054a, 0x90f2800a,
    ]);
    expect(new Set(gear).size).toBe(256);
  });

  for (const v of vectors) {
    describe(v.name, () => {
      const data = v.data();
      const check = (kernel: CdcKernel) => {
        const { cuts } = cutsOf(kernel, v.params, data);
        expect(lengthsOf(cuts, data.length)).toEqual(v.lengths);
      };
      it('plain reference implementation', () => {
        expect(lengthsOf(referenceCuts(v.params, data), data.length)).toEqual(v.lengths);
      });
      it('JS kernel', () => check(jsKernel));
      it('WASM kernel', async () => check(await wasmKernel()));
    });
  }
});
