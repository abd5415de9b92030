/** What a command leaves to close: closed at its end, most recent first, errors by outcome. */
import { describe, expect, it } from 'vitest';
import { closeAll, closeAtEnd } from '../../src/cli/cleanup.js';

describe('closeAtEnd / closeAll', () => {
  it('closes everything, most recent first, and reports the first error after a success', async () => {
    const order: string[] = [];
    closeAtEnd(async () => {
      order.push('first');
    });
    closeAtEnd(async () => {
      order.push('second');
      throw new Error('second failed');
    });
    closeAtEnd(async () => {
      order.push('third');
    });
    await expect(closeAll(true)).rejects.toThrow('second failed');
    expect(order).toEqual(['third', 'second', 'first']);
    // Each is closed once.
    await closeAll(true);
    expect(order).toHaveLength(3);
  });

  it('after a failure, closing errors are not reported (the command error is)', async () => {
    let closed = false;
    closeAtEnd(async () => {
      closed = true;
      throw new Error('ignored');
    });
    await expect(closeAll(false)).resolves.toBeUndefined();
    expect(closed).toBe(true);
  });
});
