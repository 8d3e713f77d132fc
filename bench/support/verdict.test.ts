import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdict } from './verdict.js';

const ci = (lo: number, hi: number) => ({ point: (lo + hi) / 2, lo, hi, n: 5 });

test('at most: pass below, fail above, inconclusive across the limit', () => {
  const t = { limit: 5, kind: 'atMost' } as const;
  assert.equal(verdict(ci(1, 4), t), 'PASS');
  assert.equal(verdict(ci(1, 5), t), 'PASS');
  assert.equal(verdict(ci(5.5, 9), t), 'FAIL');
  assert.equal(verdict(ci(3, 7), t), 'INCONCLUSIVE');
});

test('at least: pass above, fail below, inconclusive across the limit', () => {
  const t = { limit: 0.9, kind: 'atLeast' } as const;
  assert.equal(verdict(ci(0.92, 1.1), t), 'PASS');
  assert.equal(verdict(ci(0.3, 0.5), t), 'FAIL');
  assert.equal(verdict(ci(0.85, 0.95), t), 'INCONCLUSIVE');
});

test('no data is inconclusive, never a pass', () => {
  assert.equal(verdict({ point: NaN, lo: NaN, hi: NaN, n: 0 }, { limit: 5, kind: 'atMost' }), 'INCONCLUSIVE');
});
