// @ts-check
/**
 * What every benchmark script starts from: the built CLI (`dist/cli.js`), its shebang's
 * environment and flags (so it runs as an installed `layerdiff` runs), the peak-RSS hook, the
 * working directory (LAYERDIFF_BENCH_DIR, default /tmp/layerdiff-bench) and the repeats
 * (LAYERDIFF_BENCH_REPS, default 3).
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shebangOf } from './shebang.mjs';

/** The benchmarks' own directory. */
export const here = fileURLToPath(new URL('.', import.meta.url));
/** The built CLI. */
export const cli = join(here, '..', 'dist', 'cli.js');
/** Its shebang line's environment and Node flags. */
export const shebang = shebangOf(cli);
/** Preloaded into a measured process: prints its peak RSS and CPU time at exit. */
export const rssHook = join(here, 'rss.cjs');
/** Where generated layers and stores live. */
export const dir = process.env.LAYERDIFF_BENCH_DIR ?? '/tmp/layerdiff-bench';
/** Runs of each measurement; the median is reported. */
export const reps = Number(process.env.LAYERDIFF_BENCH_REPS ?? 3);
