import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapCi } from './bootstrap-ci.js';
import { clusterBootstrapCi } from './cluster-bootstrap-ci.js';
import { quantile } from './quantile.js';

const p95 = (xs: readonly number[]): number => quantile(xs, 0.95);
// Two batches of ten alike within each, far apart between them: a quiet batch and one a neighbour slowed down.
const quiet = [250, 252, 255, 258, 260, 262, 265, 268, 270, 275];
const loaded = [340, 345, 350, 352, 355, 360, 365, 370, 380, 390];

test('groups that differ widen the interval to span them, where samples drawn one by one do not', () => {
  const byGroup = clusterBootstrapCi([quiet, loaded], { statistic: p95 });
  const bySample = bootstrapCi([...quiet, ...loaded], { statistic: p95 });
  assert.equal(byGroup.point, bySample.point, 'the same statistic of the pooled samples');
  assert.equal(byGroup.n, 20);
  // Resampled by batch, a draw may be the quiet batch twice: its p95 is under 300.
  assert.ok(byGroup.lo < 300 && byGroup.hi > 300, `straddles 300: ${JSON.stringify(byGroup)}`);
  assert.ok(bySample.lo > 300, `one by one, the interval misses the quiet batch: ${JSON.stringify(bySample)}`);
});

test('alike groups give a narrow interval, and the same groups the same interval on every call', () => {
  const a = clusterBootstrapCi([quiet, quiet.map((x) => x + 2), quiet.map((x) => x - 1)], { statistic: p95 });
  assert.ok(a.hi - a.lo <= 5, JSON.stringify(a));
  assert.deepEqual(a, clusterBootstrapCi([quiet, quiet.map((x) => x + 2), quiet.map((x) => x - 1)], { statistic: p95 }));
});

test('non-finite samples and empty groups are dropped; one group gives its own statistic; none gives NaN', () => {
  const one = clusterBootstrapCi([[NaN], [1, 2, 3, Infinity]]);
  assert.deepEqual(one, { point: 2, lo: 2, hi: 2, n: 3 });
  const none = clusterBootstrapCi([[], [NaN]]);
  assert.ok(Number.isNaN(none.point) && Number.isNaN(none.lo) && Number.isNaN(none.hi));
  assert.throws(() => clusterBootstrapCi([[1]], { confidence: 1 }), RangeError);
});
