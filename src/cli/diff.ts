/**
 * `layerdiff diff <layer|-> --base <index>... --store <dir> --out <file|-> [--codec ...]
 * [--json] [--progress]` and `layerdiff apply <diff|-> --store <dir> --out <index> [--json]`.
 * The diff's chunks are deflated at level 6 unless `--codec` or `--deflate-level` says
 * otherwise: a diff usually crosses a network, where bytes cost more than CPU.
 *
 * @module
 */
import { nodeChunkCodec } from '../node/chunk-codec.js';
import { nodeGunzip } from '../node/gunzip.js';
import { layerHashing, nodeHashProvider } from '../node/hash.js';
import { atomicFile, fileSource, pipeToOutput } from '../node/io.js';
import { applyDiff } from '../pipeline/apply.js';
import { createDiff } from '../pipeline/diff.js';
import { parse, required } from './args.js';
import { sizeOf } from './convert.js';
import { summaryStream } from './output.js';
import { inputFiles, outputFile } from './paths.js';
import { showProgress } from './progress.js';
import { codecOption, openReadStore, openWritableStore, WRITE_STORE_OPTIONS } from './store.js';

export async function diffCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    {
      base: { type: 'string', multiple: true },
      store: { type: 'string' },
      codec: { type: 'string' },
      'deflate-level': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
      progress: { type: 'boolean' },
    },
    { min: 1, max: 1, names: 'one layer path (or - for stdin)' },
  );
  const codec = codecOption(values.codec, values['deflate-level'], {
    algorithm: 'deflate',
    level: 6,
  });
  required(values.store, 'store');
  const outPath = required(values.out, 'out');
  await inputFiles([...positionals, ...(values.base ?? [])]);
  await outputFile(outPath, [...positionals, ...(values.base ?? [])]);
  const store = await openReadStore(values.store);

  const { layer, hash } = await layerHashing(
    fileSource(positionals[0]!, { blocking: true, recycle: true }),
  );
  const { stream, done, events } = createDiff(layer, {
    bases: (values.base ?? []).map((b) => fileSource(b)),
    store,
    hash,
    gunzip: nodeGunzip(),
    codec,
  });
  const stop = showProgress(events, {
    total: await sizeOf(positionals[0]!),
    force: values.progress === true,
  });
  done.then(stop, stop);
  await pipeToOutput(stream, outPath, { blocking: true });
  const r = await done;
  const line = `${r.diffId}  diff of ${r.diffBytes} bytes: ${r.sentChunks} chunks (${r.sentBytes} bytes, ${r.sentEncodedBytes} sent) of ${r.chunks + (r.index?.indexChunks ?? 0)} referenced; ${r.baseChunks} chunks in the bases`;
  const text = values.json ? JSON.stringify(r) : line;
  (await summaryStream(outPath)).write(`${text}\n`);
}

export async function applyCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { ...WRITE_STORE_OPTIONS, out: { type: 'string' }, json: { type: 'boolean' } },
    { min: 1, max: 1, names: 'one diff path (or - for stdin)' },
  );
  required(values.store, 'store');
  const outPath = required(values.out, 'out');
  await inputFiles(positionals);
  await outputFile(outPath, positionals);
  const store = await openWritableStore(values);
  const out = await atomicFile(outPath);
  try {
    const r = await applyDiff(fileSource(positionals[0]!, { blocking: true }), store, {
      hash: nodeHashProvider(),
      codec: nodeChunkCodec(),
    });
    const w = out.writable.getWriter();
    await w.write(r.root);
    await w.close();
    await out.commit();
    const { root: _, ...totals } = r;
    (await summaryStream(outPath)).write(
      values.json
        ? `${JSON.stringify(totals)}\n`
        : `${r.diffId}  applied ${r.chunks} chunks (${r.newChunks} new, ${r.newBytes} bytes); all ${r.referenced} references present\n`,
    );
  } catch (err) {
    await out.discard();
    throw err;
  }
}
