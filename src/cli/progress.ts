/**
 * The progress line the CLI draws on stderr while it converts, when stderr is a terminal (or
 * `--progress` asks for it); silent otherwise.
 *
 * @module
 */
import type { ConvertEmitter, ConvertProgress } from '../events/progress.js';

const MiB = 1024 * 1024;

/**
 * One line of progress.
 * @param p - the totals.
 * @param total - the blob's size, when known.
 */
export function formatProgress(p: ConvertProgress, total?: number): string {
  const read = `${(p.bytesIn / MiB).toFixed(1)}${total ? `/${(total / MiB).toFixed(1)}` : ''} MiB`;
  const pct = total ? ` ${((100 * p.bytesIn) / total).toFixed(1).padStart(5)}%` : '';
  return `${p.phase.padEnd(9)}${pct} ${read}  ${p.entries} entries  ${p.chunks} chunks, ${p.newChunks} new (${(p.newBytes / MiB).toFixed(1)} MiB)`;
}

/**
 * Draws progress on stderr, at most every 100 ms, until the returned function is called.
 * @param events - the conversion's events.
 * @param options - the blob's size when known; `force` draws even when stderr is no terminal.
 * @returns a function that draws the last state, ends the line and stops.
 */
export function showProgress(
  events: ConvertEmitter,
  options: { total?: number; force?: boolean } = {},
): () => void {
  const out = process.stderr;
  if (!options.force && !out.isTTY) return () => {};
  // On a terminal the line is redrawn in place; otherwise each draw is a line of its own.
  const draw = (final = false) => {
    const line = formatProgress(events.current, options.total);
    out.write(out.isTTY ? `\r\x1b[2K${line}${final ? '\n' : ''}` : `${line}\n`);
  };
  let last = 0;
  const onProgress = () => {
    const now = Date.now();
    if (now - last < 100) return;
    last = now;
    draw();
  };
  events.on('progress', onProgress);
  return () => {
    events.off('progress', onProgress);
    draw(true);
  };
}
