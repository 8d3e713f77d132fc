import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchFlag } from './bench-flag.js';

test('flag, then environment, then default', () => {
  assert.equal(benchFlag('runs', 'BENCH_RUNS', 5, ['--runs', '9'], { BENCH_RUNS: '7' }), 9);
  assert.equal(benchFlag('runs', 'BENCH_RUNS', 5, ['--runs=8'], {}), 8);
  assert.equal(benchFlag('runs', 'BENCH_RUNS', 5, [], { BENCH_RUNS: '7' }), 7);
  assert.equal(benchFlag('runs', 'BENCH_RUNS', 5, [], {}), 5);
});

test('refuses what is not a positive integer', () => {
  assert.throws(() => benchFlag('runs', 'BENCH_RUNS', 5, ['--runs', 'x'], {}), RangeError);
  assert.throws(() => benchFlag('runs', 'BENCH_RUNS', 5, ['--runs=0'], {}), RangeError);
});
