import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diskPercent, elapsedMs, megabytesPerSecond, ramPercent, readStats } from './migration-stats.js';
import { at, migration } from './migration-fixtures.js';

test('readStats keeps the numbers it knows and drops what is not a number', () => {
  const s = readStats(migration({ stats: { transferredBytes: 10, remainingBytes: 'lots', passes: 2, mbps: Number.NaN, convergence: [{ at: at(5), kind: 'throttle', reason: 'dirty' }, 7, null] } }));
  assert.deepEqual(s, { transferredBytes: 10, passes: 2, convergence: [{ at: at(5), kind: 'throttle', reason: 'dirty' }] });
  assert.deepEqual(readStats(migration()).convergence, []);
});

test('RAM sent is transferred / (transferred + remaining): passes re-send pages, so total would overshoot', () => {
  assert.equal(ramPercent(readStats(migration({ stats: { transferredBytes: 300, remainingBytes: 100, totalBytes: 128 } }))), 75);
  assert.equal(ramPercent(readStats(migration({ stats: { transferredBytes: 0, remainingBytes: 0 } }))), 0);
  assert.equal(ramPercent(readStats(migration())), undefined);
  assert.equal(diskPercent(readStats(migration({ stats: { diskCopiedBytes: 1, diskTotalBytes: 4 } }))), 25);
  // QEMU's mbps is megabits.
  assert.equal(megabytesPerSecond(readStats(migration({ stats: { mbps: 800 } }))), 100);
});

test('elapsed time: the recorded total, else from the timestamps', () => {
  assert.equal(elapsedMs(migration({ stats: { totalTimeMs: 4210 }, finishedAt: at(9000) })), 4210);
  assert.equal(elapsedMs(migration({ state: 'aborted', finishedAt: at(1500) })), 1500);
  assert.equal(elapsedMs(migration(), Date.parse(at(2000))), 2000);
});
