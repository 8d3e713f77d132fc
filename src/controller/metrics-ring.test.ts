import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MetricRing } from './metrics-ring.js';
import { ValidationError } from '../errors/validation-error.js';

describe('MetricRing', () => {
  it('keeps the last `capacity` records in order and never grows past its array', () => {
    const r = new MetricRing(3, 2);
    const bytes = r.bytes;
    assert.equal(bytes, 3 * 2 * 8);
    assert.deepEqual(r.since(), []);
    assert.equal(r.latest(), undefined);
    for (let t = 1; t <= 1000; t++) assert.equal(r.push([t, t * 10]), true);
    assert.equal(r.size, 3);
    assert.equal(r.bytes, bytes);
    assert.deepEqual(r.since(), [[998, 9980], [999, 9990], [1000, 10000]]);
    assert.deepEqual(r.latest(), [1000, 10000]);
  });

  it('answers only records later than `since`', () => {
    const r = new MetricRing(5, 1);
    for (const t of [10, 20, 30, 40]) r.push([t]);
    assert.deepEqual(r.since(20), [[30], [40]]);
    assert.deepEqual(r.since(40), []);
    assert.deepEqual(r.since(0), [[10], [20], [30], [40]]);
  });

  it('drops a record no later than the newest (a sample pulled twice) and one of the wrong width', () => {
    const r = new MetricRing(4, 2);
    assert.equal(r.push([5, 1]), true);
    assert.equal(r.push([5, 2]), false);
    assert.equal(r.push([4, 2]), false);
    assert.equal(r.push([6]), false);
    assert.deepEqual(r.since(), [[5, 1]]);
  });

  it('refuses a capacity or width that is not a positive integer', () => {
    assert.throws(() => new MetricRing(0, 1), (e: unknown) => e instanceof ValidationError && e.field === 'capacity');
    assert.throws(() => new MetricRing(2, 1.5), (e: unknown) => e instanceof ValidationError && e.field === 'width');
  });
});
