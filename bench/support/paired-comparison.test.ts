import { test } from 'node:test';
import assert from 'node:assert/strict';
import { comparePairs, describeComparison } from './paired-comparison.js';

test('per-pair ratios cancel a slowdown both runs of a pair shared', () => {
  // The third pair ran while the machine was 4× slower: its ratio is still 1.1.
  const pairs = [{ raw: 100, nubo: 110 }, { raw: 120, nubo: 132 }, { raw: 400, nubo: 440 }, { raw: 90, nubo: 99 }];
  const c = comparePairs('idle', pairs, 'ratio', { limit: 1.2, kind: 'atMost' });
  assert.deepEqual(c.perPair.map((x) => Math.round(x * 1000) / 1000), [1.1, 1.1, 1.1, 1.1]);
  assert.equal(c.verdict, 'PASS');
});

test('differences against a limit; a pair with a missing side is dropped', () => {
  const pairs = [{ raw: 200, nubo: 240 }, { raw: 210, nubo: 252 }, { raw: 190, nubo: NaN }, { raw: 205, nubo: 250 }];
  const c = comparePairs('pause', pairs, 'difference', { limit: 5, kind: 'atMost' }, 'ms');
  assert.equal(c.ci.n, 3);
  assert.equal(c.verdict, 'FAIL');
  const line = describeComparison(c);
  assert.match(line, /^FAIL pause: nubo − raw ≤ 5 ms — median per pair 42 ms/);
});

test('a FAIL never prints its two medians alike', () => {
  const c = comparePairs('gap', [{ raw: 321.6, nubo: 322.4 }, { raw: 321.7, nubo: 322.3 }], 'difference', { limit: 0, kind: 'atMost' }, 'ms');
  assert.equal(c.verdict, 'FAIL');
  assert.match(describeComparison(c), /nubo 322\.4 vs raw 321\.6/);
});
