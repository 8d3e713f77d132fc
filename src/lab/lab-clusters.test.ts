import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planLabClusters } from './lab-clusters.js';
import { LabError } from './lab-error.js';

test('planLabClusters: contiguous blocks, the first ones larger; one cluster makes none', () => {
  assert.deepEqual(planLabClusters(4, 2), [{ cluster: 'c1', hosts: [1, 2] }, { cluster: 'c2', hosts: [3, 4] }]);
  assert.deepEqual(planLabClusters(5, 2), [{ cluster: 'c1', hosts: [1, 2, 3] }, { cluster: 'c2', hosts: [4, 5] }]);
  assert.deepEqual(planLabClusters(3, 3), [{ cluster: 'c1', hosts: [1] }, { cluster: 'c2', hosts: [2] }, { cluster: 'c3', hosts: [3] }]);
  assert.deepEqual(planLabClusters(3, 1), []);
  assert.throws(() => planLabClusters(2, 3), (e: unknown) => e instanceof LabError && /--clusters 3 needs at least as many hosts/.test(e.message));
  assert.throws(() => planLabClusters(2, 0), LabError);
});
