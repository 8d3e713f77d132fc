import { test } from 'node:test';
import assert from 'node:assert/strict';
import { median, quantile } from './quantile.js';

test('median of odd and even counts, ignoring non-finite values', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([NaN, 5, Infinity]), 5);
  assert.ok(Number.isNaN(median([])));
});

test('quantiles interpolate between order statistics', () => {
  const xs = [10, 20, 30, 40, 50];
  assert.equal(quantile(xs, 0), 10);
  assert.equal(quantile(xs, 1), 50);
  assert.equal(quantile(xs, 0.95), 48);
  assert.throws(() => quantile(xs, 1.5), RangeError);
});
