import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handled } from './handled.js';

test('a promise that fails before it is awaited is no unhandled rejection, and awaiting it later still throws its error', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const p = handled(Promise.reject(new Error('failed early')));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, []);
    await assert.rejects(p, /failed early/);
    assert.equal(await handled(Promise.resolve(7)), 7);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
