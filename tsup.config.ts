import { copyFile, mkdir } from 'node:fs/promises';
import { defineConfig } from 'tsup';

// `npm run build` empties dist/ first; neither config cleans, since they build in parallel.
export default defineConfig([
  {
    entry: { index: 'src/index.ts', node: 'src/node/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    target: 'es2022',
    platform: 'neutral',
    // cborg ships ESM only; bundle it so the CJS build needs no require(esm). zip.js and pako
    // (gzip reproduction) are bundled so raw workerd needs no extra module mapping for them.
    noExternal: ['cborg', 'pako', /^@zip\.js\//],
    async onSuccess() {
      // The precompiled modules, for runtimes that cannot compile Wasm from bytes (workerd).
      await mkdir('dist', { recursive: true });
      await copyFile('build/cdc.wasm', 'dist/cdc.wasm');
      await copyFile('build/lz4.wasm', 'dist/lz4.wasm');
      await copyFile('build/zstd.wasm', 'dist/zstd.wasm');
    },
  },
  {
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    // A small young generation: buffers released by the streams are then collected promptly,
    // which keeps peak RSS flat (measured on a 1.1 GiB layer with read buffers recycled and
    // blocking I/O: 1 MiB gives cat 86-87 MiB and convert 83-94, against 91-98 and 86-96 with
    // 2 MiB, no slower). One V8 background thread instead of four: on two cores the extra
    // ones only compete with the hashing worker, and each keeps memory of its own (convert
    // peaked 2-4 MiB lower, no slower; cat 1.64-1.71 s against 1.82-2.01 s). The old
    // generation grows by half after each full collection instead of V8's adaptive factor of
    // up to 4: a layer of 60,000 small files peaked at 92 MiB instead of 105, the 1.1 GiB layer
    // at 82 instead of 87, no slower. At most two glibc malloc arenas instead of 16 (eight per
    // core), shared by the main thread, the hashing worker and the thread pool: a layer of
    // 400,000 small files converted in 89.3-89.8 MiB instead of 93.0, and as a tar.zst in 93.0
    // instead of 95.7, no slower (other C libraries ignore the variable).
    banner: {
      js: '#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --v8-pool-size=1 --heap-growing-percent=50',
    },
    noExternal: ['cborg', /^@zip\.js\//],
  },
]);
