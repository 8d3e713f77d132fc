import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatFixed, parseFixed, roundHalfUp } from './fixed-point.js';

test('roundHalfUp: exact halves go up, the rest to the nearest', () => {
  assert.equal(roundHalfUp(5n, 10n), 1n);
  assert.equal(roundHalfUp(4n, 10n), 0n);
  assert.equal(roundHalfUp(15n, 10n), 2n);
  assert.equal(roundHalfUp(14n, 10n), 1n);
  assert.equal(roundHalfUp(0n, 7n), 0n);
  assert.equal(roundHalfUp(10n ** 30n + 1n, 2n), 5n * 10n ** 29n + 1n, 'beyond 2^53 without loss');
});

test('formatFixed and parseFixed are inverse; parseFixed refuses what it would have to round', () => {
  assert.equal(formatFixed(1234n, 2), '12.34');
  assert.equal(formatFixed(5n, 3), '0.005');
  assert.equal(formatFixed(7n, 0), '7');
  assert.equal(parseFixed('0.0125', 9), 12_500_000n);
  assert.equal(parseFixed('3', 2), 300n);
  assert.equal(parseFixed('0.001', 2), undefined);
  assert.equal(parseFixed('-1', 2), undefined);
  assert.equal(parseFixed('1e-3', 9), undefined);
  assert.equal(parseFixed('abc', 2), undefined);
  for (const s of ['0.000000001', '12.5', '1000000']) assert.equal(formatFixed(parseFixed(s, 9)!, 9).replace(/\.?0+$/, ''), s);
});
