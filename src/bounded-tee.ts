/**
 * A tee whose branches may drift apart only so far. `ReadableStream.tee()` reads its source
 * as fast as the faster branch asks and queues everything for the slower one, so a fast
 * reader beside a slow one holds the whole stream. Here a branch that wants more than the
 * others have read waits (or fails, as chosen) once another branch is `maxLead` bytes behind.
 *
 * @module
 */

/** Options of {@link boundedTee}. */
export interface BoundedTeeOptions {
  /** Bytes a branch may have queued (read from the source, not yet taken by it). */
  maxLead: number;
  /**
   * When a read needs the source while another branch is `maxLead` behind: `wait` until it
   * catches up, or `error` both branches with a `RangeError` (for branches that depend on
   * each other, where waiting could never end).
   */
  overflow: 'wait' | 'error';
  /**
   * Give the second branch copies of the source's pieces. Needed when the source lends its
   * buffers (see `lend.ts`): the first branch's pipeline may give them back and reuse them
   * while the second still reads. @default false
   */
  copySecond?: boolean;
}

interface Branch {
  queue: Uint8Array[];
  queued: number;
  cancelled: boolean;
}

/**
 * Two branches over one source, each seeing every piece.
 * @param source - the stream to split; read only as the branches ask.
 * @param options - the lead allowed, and what happens beyond it.
 * @returns the two branches. Cancelling one lets the other run free; cancelling both cancels
 * the source.
 */
export function boundedTee(
  source: ReadableStream<Uint8Array>,
  options: BoundedTeeOptions,
): [ReadableStream<Uint8Array>, ReadableStream<Uint8Array>] {
  const reader = source.getReader();
  const branches: Branch[] = [0, 1].map(() => ({ queue: [], queued: 0, cancelled: false }));
  let ended = false;
  let failure: { err: unknown } | undefined;
  let reading: Promise<void> | undefined;
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };

  const readSource = async (): Promise<void> => {
    try {
      const r = await reader.read();
      if (r.done) {
        ended = true;
        return;
      }
      branches.forEach((b, i) => {
        if (b.cancelled) return;
        b.queue.push(i === 1 && options.copySecond ? r.value.slice() : r.value);
        b.queued += r.value.length;
      });
    } catch (err) {
      failure = { err };
    } finally {
      wake();
    }
  };

  const branch = (i: number): ReadableStream<Uint8Array> => {
    const self = branches[i]!;
    const other = branches[1 - i]!;
    return new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          for (;;) {
            // Cancelled while it waited: nothing more is read for it.
            if (self.cancelled) return;
            const next = self.queue.shift();
            if (next) {
              self.queued -= next.length;
              wake();
              controller.enqueue(next);
              return;
            }
            if (failure) throw failure.err;
            if (ended) {
              controller.close();
              return;
            }
            if (!other.cancelled && other.queued >= options.maxLead) {
              if (options.overflow === 'error') {
                failure = {
                  err: new RangeError(
                    `tee branches drifted more than ${options.maxLead} bytes apart`,
                  ),
                };
                // Both branches now fail, so neither reads on: let the source go.
                reader.cancel(failure.err).catch(() => {});
                wake();
                continue;
              }
              await new Promise<void>((resolve) => waiters.push(resolve));
              continue;
            }
            reading ??= readSource().finally(() => {
              reading = undefined;
            });
            await reading;
          }
        },
        async cancel(reason) {
          self.cancelled = true;
          self.queue = [];
          self.queued = 0;
          wake();
          if (other.cancelled) await reader.cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  };
  return [branch(0), branch(1)];
}
