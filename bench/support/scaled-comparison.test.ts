import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareScaled, describeScaled } from './scaled-comparison.js';

const T = { factor: 1.5, plus: 20 };

test('each pair is held to its own 1.5 × raw + 20: a slow pair does not pass by the other pairs\' medians', () => {
  // Limits 170, 320, 770: nubo under each by 20, 40, 70.
  const c = compareScaled('gap', [{ raw: 100, nubo: 150 }, { raw: 200, nubo: 280 }, { raw: 500, nubo: 700 }], T, 'ms');
  assert.deepEqual(c.perPair, [-20, -40, -70]);
  assert.equal(c.verdict, 'PASS');
  assert.equal(c.rawMedian, 200);
  assert.equal(c.nuboMedian, 280);
  assert.deepEqual(c.pairs.map((p) => p.raw), [100, 200, 500]);
});

test('over the limit in every pair fails; a missing side is dropped', () => {
  const c = compareScaled('gap', [{ raw: 100, nubo: 200 }, { raw: 100, nubo: 210 }, { raw: NaN, nubo: 100 }], T, 'ms');
  assert.equal(c.ci.n, 2);
  assert.equal(c.verdict, 'FAIL');
  assert.match(describeScaled(c, T, 'nubo', 'raw-rc'), /^FAIL gap: nubo ≤ 1\.5 × raw-rc \+ 20 ms per pair — median per pair of nubo − \(1\.5 × raw-rc \+ 20 ms\) 35 ms \(95% CI 30…40, 2 pairs; ≤ 0 passes\); p50s nubo 205 vs raw-rc 100 ms$/);
});

test('pairs on both sides of the limit are inconclusive', () => {
  const c = compareScaled('gap', [{ raw: 100, nubo: 150 }, { raw: 100, nubo: 190 }, { raw: 100, nubo: 160 }, { raw: 100, nubo: 185 }], T, 'ms');
  assert.equal(c.verdict, 'INCONCLUSIVE');
});
