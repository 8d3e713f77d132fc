import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmtDuration, fmtOffset, progressDetail, shortId } from './migration-format.js';
import { readStats } from './migration-stats.js';
import { at, migration, precopyStats } from './migration-fixtures.js';

test('durations, offsets and short ids', () => {
  assert.deepEqual([38, 999, 4210, 59_940, 125_000].map(fmtDuration), ['38 ms', '999 ms', '4.2 s', '59.9 s', '2m 05s']);
  assert.equal(fmtOffset(at(1234), at(0)), '+1.2 s');
  assert.equal(shortId('3f2a9c1e-7b4d-4e8a-9c21-5d6e7f809a1b'), '3f2a9c1e');
});

test('the progress detail shows what moves in the stage: disks while mirroring, RAM during pre-copy, nothing on the roll-back', () => {
  const s = readStats(migration({ stats: { ...precopyStats(45, 55, 2), diskCopiedBytes: 1024, diskTotalBytes: 4096 } }));
  assert.equal(progressDetail('mirroring', s), 'disk 25% (1 KiB of 4 KiB)');
  assert.equal(progressDetail('precopy', s), 'RAM 45% sent · dirty 2 MiB/s · pass 2 · 100.0 MB/s');
  assert.equal(progressDetail('aborting', s), '');
  assert.equal(progressDetail('prepared', readStats(migration())), '');
});

test('a cold migration shows the share of its files copied and the rate while copying', () => {
  const s = readStats(migration({ kind: 'cold', stage: 'copying', stats: { copiedBytes: 3 * 1024 * 1024, copyTotalBytes: 4 * 1024 * 1024, throughputMBps: 12.34 } }));
  assert.equal(progressDetail('copying', s), 'files 75% (3 MiB of 4 MiB) · 12.3 MB/s');
  assert.equal(progressDetail('verified', s), '');
});
