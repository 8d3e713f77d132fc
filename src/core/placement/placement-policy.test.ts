import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../errors/validation-error.js';
import { loadAwareRanker, packingRanker, stripingRanker } from './host-rankers.js';
import { compilePlacementPolicy, type PlacementPolicyInput, type RankerName } from './placement-policy.js';
import { makeHost } from './host-view.fixture.js';

function rejects(input: PlacementPolicyInput, fields: string[], message?: RegExp): void {
  assert.throws(
    () => compilePlacementPolicy(input),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError, String(err));
      assert.deepEqual(err.issues.map((i) => i.field), fields);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

test('defaults: packing, no overcommit; frozen', () => {
  const p = compilePlacementPolicy();
  assert.equal(p.ranker, 'packing');
  assert.equal(p.cpuOvercommit, 1);
  assert.equal(p.rank, packingRanker);
  assert.equal('rankExpression' in p, false);
  assert.ok(Object.isFrozen(p));
});

test('built-in rankers', () => {
  assert.equal(compilePlacementPolicy({ ranker: 'striping' }).rank, stripingRanker);
  assert.equal(compilePlacementPolicy({ ranker: 'load-aware', cpuOvercommit: 4 }).rank, loadAwareRanker);
  assert.equal(compilePlacementPolicy({ ranker: 'load-aware', cpuOvercommit: 4 }).cpuOvercommit, 4);
});

test('custom ranks by the compiled expression', () => {
  const p = compilePlacementPolicy({ ranker: 'custom', rankExpression: 'free_memory_mb - load * 1000' });
  assert.equal(p.rankExpression, 'free_memory_mb - load * 1000');
  assert.equal(p.rank(makeHost('h', { load: 0.5 }), p), 4096 - 500);
});

test('invalid policies name every field', () => {
  rejects({ ranker: 'random' as RankerName }, ['ranker'], /must be one of packing, striping, load-aware, custom/);
  rejects({ ranker: 'custom' }, ['rankExpression'], /is required with ranker custom/);
  rejects({ ranker: 'striping', rankExpression: 'load' }, ['rankExpression'], /only used with ranker custom/);
  rejects({ ranker: 'custom', rankExpression: 'load > 1' }, ['rankExpression'], /must compute a number/);
  rejects({ ranker: 'custom', rankExpression: 'foo()' }, ['rankExpression'], /function calls/);
  for (const cpuOvercommit of [0, -1, Number.NaN, Infinity, 65]) rejects({ cpuOvercommit }, ['cpuOvercommit']);
  rejects({ ranker: 'custom', cpuOvercommit: 0 }, ['cpuOvercommit', 'rankExpression']);
  assert.doesNotThrow(() => compilePlacementPolicy({ cpuOvercommit: 0.5 }));
  assert.doesNotThrow(() => compilePlacementPolicy({ cpuOvercommit: 64 }));
});
