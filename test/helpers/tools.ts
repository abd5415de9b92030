/**
 * Real external tools used by tests. In CI (`CI` set) a missing tool is a failure; on a
 * developer machine the tests that need it are skipped with a note.
 */
import { execFileSync } from 'node:child_process';

/** True when `name` is on the PATH. */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether tests needing `names` should run. Throws in CI when one is missing, so a CI run can
 * never pass by silently skipping.
 */
export function toolsAvailable(...names: string[]): boolean {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return true;
  if (process.env.CI) throw new Error(`CI is missing required tools: ${missing.join(', ')}`);
  console.warn(`skipping: missing ${missing.join(', ')}`);
  return false;
}

/** True when running as root (umoci in normal mode and device nodes need it). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
