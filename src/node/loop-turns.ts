/**
 * Blocking I/O on the main thread and the event loop: a pipeline whose reads never wait would
 * run as one long chain of microtasks, and the work V8 and Node leave to the event loop
 * (freeing released buffers, worker messages) would pile up: a conversion measured 1.2 GiB of
 * resident memory instead of 100 MiB. So every so many blocking calls, let the loop turn.
 *
 * @module
 */

/**
 * Returns a function to call before each blocking I/O call; every `every`-th call waits for
 * one turn of the event loop (`setImmediate`), the others return at once.
 * @param every - blocking calls between two turns.
 */
export function loopTurns(every: number): () => Promise<void> | undefined {
  let calls = 0;
  return () =>
    ++calls % every === 0 ? new Promise<void>((resolve) => setImmediate(resolve)) : undefined;
}
