import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BURST_MS, Pacer } from './pacer.js';

test('holds bytes to the rate from the first byte, letting a burst of BURST_MS through', () => {
  let now = 1_000;
  const p = new Pacer(1_000_000, () => now);
  // 40 ms worth: within the burst, at once.
  assert.equal(p.take(40_000), 0);
  // 100 ms worth in all at t = 0: the second slice waits until it is due.
  assert.equal(p.take(60_000), 100);
  now += 100;
  assert.equal(p.take(10_000), 0, 'on schedule again: 110 ms due at 100 ms is within the burst');
  now += 1_000;
  // The cap is the average since the first byte: after an idle second, a second's worth goes at once, and no more.
  assert.equal(p.take(1_000_000), 0);
  assert.equal(p.take(500_000), 510);
  assert.ok(BURST_MS > 0);
});

test('slices a copy into about a burst of bytes, within bounds', () => {
  assert.equal(new Pacer(1_000_000).sliceBytes(4 << 20), 50_000);
  assert.equal(new Pacer(1_000).sliceBytes(4 << 20), 4096, 'never below one page');
  assert.equal(new Pacer(1e12).sliceBytes(4 << 20), 4 << 20, 'never above the caller\'s chunk');
});

test('refuses a rate that is not a positive finite number', () => {
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => new Pacer(bad), RangeError);
});

test('says whether a copy fits in one burst (and so never waits)', () => {
  const p = new Pacer(1000);
  assert.equal(p.withinBurst(50), true);
  assert.equal(p.withinBurst(51), false);
  // A copy within the burst is let through at once by take() too.
  assert.equal(new Pacer(1000, () => 0).take(50), 0);
});
