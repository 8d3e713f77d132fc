import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapCi } from './bootstrap-ci.js';

const xs = [1.21, 1.05, 1.4, 1.13, 1.78, 1.09, 1.31, 1.2, 1.16, 1.25];

test('the same samples give the same interval on every call (fixed seed)', () => {
  assert.deepEqual(bootstrapCi(xs), bootstrapCi([...xs]));
});

test('the interval holds the median and lies within the samples', () => {
  const ci = bootstrapCi(xs);
  assert.equal(ci.point, 1.205);
  assert.equal(ci.n, 10);
  assert.ok(ci.lo <= ci.point && ci.point <= ci.hi, JSON.stringify(ci));
  assert.ok(ci.lo >= 1.05 && ci.hi <= 1.78, JSON.stringify(ci));
  assert.ok(ci.hi - ci.lo < 0.3, `too wide: ${JSON.stringify(ci)}`);
});

test('more samples of the same spread narrow the interval', () => {
  const wide = bootstrapCi(xs.slice(0, 4));
  const narrow = bootstrapCi([...xs, ...xs, ...xs, ...xs]);
  assert.ok(narrow.hi - narrow.lo < wide.hi - wide.lo, `${JSON.stringify(narrow)} vs ${JSON.stringify(wide)}`);
});

test('non-finite samples are dropped; none at all gives NaN, one gives itself', () => {
  assert.equal(bootstrapCi([NaN, 2, Infinity]).n, 1);
  assert.deepEqual(bootstrapCi([2]), { point: 2, lo: 2, hi: 2, n: 1 });
  const none = bootstrapCi([]);
  assert.ok(Number.isNaN(none.point) && Number.isNaN(none.lo) && Number.isNaN(none.hi));
});

test('a higher confidence never gives a narrower interval', () => {
  const a = bootstrapCi(xs, { confidence: 0.8 });
  const b = bootstrapCi(xs, { confidence: 0.99 });
  assert.ok(b.lo <= a.lo && b.hi >= a.hi);
  assert.throws(() => bootstrapCi(xs, { confidence: 1 }), RangeError);
});
