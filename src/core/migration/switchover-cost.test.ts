import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SWITCHOVER_MS, SWITCHOVER_SAMPLES, switchoverCost } from './switchover-cost.js';

const m = (sourceHostId: string, destHostId: string, downtimeMs: number) => ({ sourceHostId, destHostId, downtimeMs });

test('no history: the documented default, said so', () => {
  assert.deepEqual(switchoverCost([], 'a', 'b'), { ms: DEFAULT_SWITCHOVER_MS, basis: 'default', samples: 0 });
  // Records without a reported downtime teach nothing.
  assert.deepEqual(switchoverCost([m('a', 'b', 0), m('a', 'b', Number.NaN)], 'a', 'b'), { ms: DEFAULT_SWITCHOVER_MS, basis: 'default', samples: 0 });
});

test('the median reported downtime of the link\'s recent migrations, either direction; else of any hosts', () => {
  assert.deepEqual(switchoverCost([m('a', 'b', 600), m('b', 'a', 800), m('a', 'b', 420), m('c', 'd', 5)], 'a', 'b'), { ms: 600, basis: 'link', samples: 3 });
  assert.deepEqual(switchoverCost([m('c', 'd', 500), m('d', 'e', 700)], 'a', 'b'), { ms: 600, basis: 'any', samples: 2 });
});

test('only the newest samples count: the cost follows a changed link', () => {
  const newest = Array.from({ length: SWITCHOVER_SAMPLES }, () => m('a', 'b', 50));
  const older = Array.from({ length: 10 }, () => m('a', 'b', 900));
  assert.deepEqual(switchoverCost([...newest, ...older], 'a', 'b'), { ms: 50, basis: 'link', samples: SWITCHOVER_SAMPLES });
});
