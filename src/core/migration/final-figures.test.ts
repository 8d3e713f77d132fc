import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalFigures } from './final-figures.js';

const journal = [
  { stage: 'reservation' },
  { stage: 'precopy' },
  { stage: 'stop-and-copy', data: { downtimeMs: 7, observed: 'at completion, from QEMU' } },
  { stage: 'transferred', data: { transferredBytes: 123_456, passes: 4 } },
  { stage: 'committed', data: { hostId: 'h2' } },
];

test('what was read at the end wins when QEMU had filled it in', () => {
  assert.deepEqual(finalFigures(journal, {}, { downtimeMs: 9, transferredBytes: 200_000, passes: 5 }), { downtimeMs: 9, transferredBytes: 200_000, passes: 5 });
});

test('a roll forward that read nothing at the end records the figures of its journal', () => {
  assert.deepEqual(finalFigures(journal, {}), { downtimeMs: 7, transferredBytes: 123_456, passes: 4 });
});

test('a 0 read before QEMU filled the downtime in does not hide the journal\'s', () => {
  assert.equal(finalFigures(journal, {}, { downtimeMs: 0 }).downtimeMs, 7);
  assert.equal(finalFigures(journal, {}, { downtimeMs: null }).downtimeMs, 7);
});

test('without a journal figure the last recorded progress is used, then what was read, then null', () => {
  const bare = [{ stage: 'reservation' }, { stage: 'stop-and-copy', data: { downtimeMs: null } }];
  assert.deepEqual(finalFigures(bare, { downtimeMs: 3, transferredBytes: 10, passes: 2 }), { downtimeMs: 3, transferredBytes: 10, passes: 2 });
  assert.deepEqual(finalFigures(bare, {}, { downtimeMs: 0 }), { downtimeMs: 0 });
  assert.deepEqual(finalFigures(bare, {}), { downtimeMs: null });
});

test('the latest journal entry of a stage counts (a stage journalled again after a restart)', () => {
  const twice = [...journal, { stage: 'transferred', data: { transferredBytes: 999, passes: 6 } }];
  assert.deepEqual(finalFigures(twice, {}), { downtimeMs: 7, transferredBytes: 999, passes: 6 });
});
