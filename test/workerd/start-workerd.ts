/**
 * Starts `workerd serve` on a rendered config and waits until its socket answers.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const workerd = join(root, 'node_modules/.bin/workerd');

/** A running workerd. */
export interface RunningWorkerd {
  child: ChildProcess;
  /** What it printed so far. */
  log(): string;
}

/**
 * @param config - a rendered config (see `renderConfig`).
 * @param probe - a URL the Worker answers once it listens.
 * @param ready - whether an answer to `probe` means ready (any answer, by default).
 * @returns the process; it is killed when it does not get ready within 20 s.
 */
export async function startWorkerd(
  config: string,
  probe: string,
  ready: (response: Response) => boolean = () => true,
): Promise<RunningWorkerd> {
  let log = '';
  const child = spawn(workerd, ['serve', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  for (let i = 0; ; i++) {
    const ok = await fetch(probe).then(ready, () => false);
    if (ok) return { child, log: () => log };
    if (i === 200 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`workerd did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
